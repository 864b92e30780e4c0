"""The oracle: which token belongs to what, computed from the rendered text, without TRL.

For a case and a tokenizer it renders the reference sequence (the chat template, or
``prompt + completion + eos`` for string pairs), tokenizes it with character offsets, and
gives every token a role. Chat renders are cross-checked by rendering each prefix of the
conversation: where a prefix render is not a prefix of the full render the oracle records it
and falls back to locating message contents in order. A token whose characters span two roles
(a BPE merge across the prompt/completion join) gets role ``mixed``: the rules report those
positions as undecidable instead of guessing.

Roles. String view: ``bos``, ``prompt``, ``completion``, ``eos``. Chat view, per message:
``header`` (scaffolding before the content; for assistants, the generation prompt),
``preamble`` (assistant only: between header and content, e.g. an empty think block),
``content``, ``eot`` (scaffolding after the content up to and including the end-of-turn
token), ``sep`` (whatever follows until the next message). ``bos`` for a BOS token anywhere.
Assistant messages may also have ``reasoning`` (thinking the template keeps; thinking it drops is
simply not in the render) and their tool calls count as ``content``. Tool results are messages
of speaker ``tool``: like user messages, never trained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from conformance.rules.data import MIXED, Reference, Token
from harness.pipeline.cases import Case
from harness.pipeline.clock import frozen_clock
from harness.tokenizers.registry import LoadedTokenizer


@dataclass(frozen=True)
class OracleToken:
    id: int
    start: int
    end: int
    role: str
    message: int | None = None   # index into the conversation (chat view)
    speaker: str | None = None   # role of that message: system / user / assistant
    parts: tuple = ()            # for mixed tokens: the (message, role) pairs it spans


@dataclass(kw_only=True)
class Oracle:
    """The reference rendering of one case with one tokenizer, built by ``string_oracle`` / ``chat_oracle``
    with every field named (keyword-only: thirteen fields, several of the same type, are not told apart by
    position)."""

    case_id: str
    tokenizer_id: str
    view: str                     # "string" or "chat"
    text: str
    tokens: list[OracleToken]
    eot_token: str | None
    eot_id: int | None
    bos_id: int | None
    prompt_ids: list[int] | None  # what the model sees at inference before it answers
    generation_prompt: str | None
    terminators: dict[int, int]   # message index (or -1 for string view) -> token index of its EOT/EOS
    final_message: int | None     # index of the final assistant message / -1 for string view / None
    notes: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    def indices(self, role: str, message: int | None = None) -> list[int]:
        return [i for i, t in enumerate(self.tokens)
                if t.role == role and (message is None or t.message == message)]

    def mixed_indices(self) -> list[int]:
        return [i for i, t in enumerate(self.tokens) if t.role == MIXED]

    def assistant_messages(self) -> list[int]:
        return sorted({t.message for t in self.tokens if t.speaker == "assistant" and t.message is not None}
                      | {m for m in self.terminators if m >= 0})

    def reference(self, max_length: int | None) -> Reference:
        """The plain token table and facts the rules judge against (no offsets, no text)."""
        return Reference([Token(t.id, t.role, t.message, t.speaker, tuple(t.parts)) for t in self.tokens],
                         self.view, self.eot_token, self.eot_id, self.bos_id,
                         list(self.prompt_ids) if self.prompt_ids is not None else None, self.generation_prompt,
                         dict(self.terminators), self.final_message, max_length)


class OracleError(ValueError):
    """The oracle cannot render this case with this tokenizer (no template, template raised)."""


class OracleUndecidable(OracleError):
    """The template renders the case, but the oracle cannot tell which tokens belong to which message
    (a tool result it drops, a tool call with no end of turn it can find): every rule is UNDECIDABLE."""


def _check_tool_layout(conv, lost, terminators, tokenizer_id, case_id) -> None:
    """Tool conversations are judged only where every tool result and every assistant turn is placed."""
    if not any(m["role"] == "tool" or m.get("tool_calls") for m in conv):
        return
    unended = [i for i, m in enumerate(conv) if m["role"] == "assistant" and i not in terminators]
    if lost or unended:
        what = ([f"message(s) {lost} not in the render (dropped or rewritten by the template)"] if lost else []) + \
               ([f"no end of turn found for assistant message(s) {unended}"] if unended else [])
        raise OracleUndecidable(f"chat template of {tokenizer_id} on {case_id}: {'; '.join(what)}")


def _render(tok, messages, add_generation_prompt=False, **kwargs) -> str:
    """The template's text; ``kwargs`` are the row's ``tools`` and ``chat_template_kwargs`` as TRL passes them."""
    with frozen_clock():
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs)


def _encode(tok, text: str, add_special_tokens: bool):
    enc = tok(text, add_special_tokens=add_special_tokens, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(o) for o in enc["offset_mapping"]]


def _token_roles(ids, offsets, char_roles, bos_id, fallback) -> list[OracleToken]:
    """Give each token the role of its characters; tokens spanning two roles become ``mixed``."""
    out = []
    for tid, (s, e) in zip(ids, offsets):
        if bos_id is not None and tid == bos_id and (s == e or s == 0):
            out.append(OracleToken(tid, s, e, "bos"))
            continue
        span = char_roles[s:e] if e > s else []
        parts = tuple(dict.fromkeys(span))
        if not parts:
            out.append(OracleToken(tid, s, e, fallback[0], fallback[1], fallback[2]))
        elif len(parts) == 1:
            msg, role, speaker = parts[0]
            out.append(OracleToken(tid, s, e, role, msg, speaker))
        else:
            msg, _, speaker = parts[-1]
            out.append(OracleToken(tid, s, e, MIXED, msg, speaker, tuple((p[0], p[1]) for p in parts)))
    return out


def terminated(completion: str, eos: str) -> str:
    """The completion ending in one EOS: the user's own when they typed it (a habit from releases that
    added none), else appended. One EOS, as one BOS: a second one is a token the data never had."""
    return completion if completion.endswith(eos) else completion + eos


def string_oracle(case: Case, lt: LoadedTokenizer) -> Oracle:
    """Reference for a string prompt/completion: ``[BOS] prompt completion EOS`` as the tokenizer encodes it
    (``terminated``: a completion that already ends with the EOS string gets no second one)."""
    tok = lt.tokenizer
    if tok.eos_token is None:
        raise OracleError(f"tokenizer {lt.id} has no eos_token; a completion cannot be terminated")
    eos = tok.eos_token
    text = case.prompt + terminated(case.completion, eos)
    ids, offsets = _encode(tok, text, add_special_tokens=True)
    p, c = len(case.prompt), len(text) - len(eos)
    roles = [(-1, "prompt", None)] * p + [(-1, "completion", None)] * (c - p) + [(-1, "eos", None)] * len(eos)
    tokens = _token_roles(ids, offsets, roles, tok.bos_token_id, (None, None, None))
    # zero-width tokens (post-processor specials other than BOS) keep no role: call them eos if they are eos
    tokens = [t if t.role is not None else OracleToken(t.id, t.start, t.end, "eos" if t.id == tok.eos_token_id
                                                        else "prompt") for t in tokens]
    eos_idx = next((i for i in range(len(tokens) - 1, -1, -1) if tokens[i].role == "eos"
                    and tokens[i].id == tok.eos_token_id), None)
    notes = []
    mixed = [i for i, t in enumerate(tokens) if t.role == MIXED]
    if mixed:
        notes.append("undecidable: token(s) " + ", ".join(f"{i} {tok.decode([tokens[i].id])!r}" for i in mixed)
                     + " span the prompt/completion join (BPE merge)")
    prompt_ids = list(tok(case.prompt, add_special_tokens=True)["input_ids"])
    return Oracle(case_id=case.id, tokenizer_id=lt.id, view="string", text=text, tokens=tokens, eot_token=eos,
                  eot_id=tok.eos_token_id, bos_id=tok.bos_token_id, prompt_ids=prompt_ids, generation_prompt=None,
                  terminators={-1: eos_idx} if eos_idx is not None else {}, final_message=-1, notes=notes)


def _sentinel_span(tok, conv: list[dict], i: int, full: str, kw: dict, field: str = "content",
                   needles: tuple[str, ...] = ()) -> tuple[int, int] | None:
    """Locate message ``i``'s content by rendering it replaced with a unique marker.

    Everything the template writes before the content does not depend on the content, so the
    marker's offset is the content's offset in the real render. This is robust to content that
    also occurs inside scaffolding (``"a"`` inside ``assistant``) or typed template markers.
    """
    marker = f"\ue000SFTC{i}\ue001"
    probe = [dict(m, **{field: marker}) if k == i else m for k, m in enumerate(conv)]
    try:
        text = _render(tok, probe, **kw)
    except Exception:  # noqa: BLE001 - templates may reject the probe; fall back to searching
        return None
    pos = text.find(marker)
    if pos < 0 or text[:pos] != full[:pos]:
        return None
    content = conv[i][field]
    for needle in (content, content.lstrip(), content.strip(), *needles):  # "" too: an empty content's place
        if full.startswith(needle, pos):
            return pos, pos + len(needle)
    return None


def split_thinking(content: str) -> tuple[str | None, str]:
    """``(thinking, answer)`` of content written as ``<think>...</think>answer``; ``(None, content)`` otherwise."""
    if "</think>" not in content:
        return None, content
    head, _, answer = content.rpartition("</think>")
    return head.split("<think>")[-1].strip(), answer.lstrip("\n")


def _without_thinking(message: dict) -> dict:
    """The message with its thinking taken out (the field, or the inline ``<think>`` block)."""
    if not thinking_of(message):
        return message
    out = {k: v for k, v in message.items() if k != "reasoning_content"}
    out["content"] = split_thinking(message["content"])[1]
    return out


def thinking_of(message: dict) -> str | None:
    """The assistant's thinking, whether in a ``reasoning_content`` field or inline in ``<think>`` tags."""
    if message.get("role") != "assistant":
        return None
    return message.get("reasoning_content") or split_thinking(message["content"])[0] or None


def _locate_contents(tok, conv: list[dict], full: str, seg_ends: list[int | None],
                     gen_prompts: dict[int, str], kw: dict) -> tuple[list[tuple[int, int]], list[int]]:
    """Character span of each message's content in the full render, and the messages whose non-empty
    content is nowhere in it (the template dropped or rewrote them; those get an empty span).

    First by marker substitution (``_sentinel_span``); otherwise by searching: non-system
    messages in order, system messages anywhere not yet taken (Mistral folds the system prompt
    into the last user turn, Gemma into the first), stripped text for templates that ``trim``,
    JSON-quoted text for tool results that templates write with ``tojson``.
    """
    spans: list[tuple[int, int] | None] = [None] * len(conv)
    lost: list[int] = []
    cursor = 0
    taken: list[tuple[int, int]] = []

    def find(needle: str, start: int) -> int:
        pos = full.find(needle, start)
        while pos >= 0 and any(a < pos + len(needle) and pos < b for a, b in taken if b > a):
            pos = full.find(needle, pos + 1)
        return pos

    order = [i for i, m in enumerate(conv) if m["role"] != "system"] + \
            [i for i, m in enumerate(conv) if m["role"] == "system"]
    for i in order:
        content = conv[i]["content"]
        answer = split_thinking(content)[1] if conv[i]["role"] == "assistant" else content
        # what a template that cuts inline thinking at '</think>' keeps, leading newlines included (DeepSeek-R1)
        kept = content.rpartition("</think>")[2] if conv[i]["role"] == "assistant" and "</think>" in content else ""
        spans[i] = _sentinel_span(tok, conv, i, full, kw)
        start = cursor if conv[i]["role"] != "system" else 0
        quoted = (json.dumps(content),) if conv[i]["role"] == "tool" else ()
        for needle in (content, content.strip(), kept, answer.strip(), *quoted):
            if spans[i] is not None:
                break
            if not needle:
                continue
            pos = find(needle, start)
            if pos >= 0:
                spans[i] = (pos, pos + len(needle))
        if spans[i] is None and content.strip():
            lost.append(i)
        if spans[i] is None:  # empty content: an empty span right after its header
            gp = gen_prompts.get(i)
            head = find(gp, cursor) if gp else -1
            pos = head + len(gp) if head >= 0 else (seg_ends[i - 1] if i and seg_ends[i - 1] else cursor)
            spans[i] = (pos, pos)
        taken.append(spans[i])
        if conv[i]["role"] != "system":
            cursor = spans[i][1]
    return spans, lost


def _special_strings(tok) -> list[str]:
    """Added special tokens (``<|end|>``, ``<end_of_turn>``), longest first."""
    return sorted((s for s, _ in tok.get_added_vocab().items() if s), key=len, reverse=True)


def _turn_eot(full: str, start: int, end: int, eot: str | None, specials: list[str],
              own_end: bool = False) -> str | None:
    """The token that ends the turn whose content ends at ``start``: ``eot`` when it occurs before
    ``end``, otherwise a special token written right after the content, otherwise (``own_end``: ``end``
    is where this message's own render ends, e.g. after a tool call) the special token it ends with,
    otherwise ``eot``. Harmony ends a tool call with ``<|call|>``."""
    if eot and full.find(eot, start, end) >= 0:
        return eot
    gap = full[start:end]
    rest = gap.lstrip()
    first = next((s for s in specials if rest.startswith(s)), None)
    if first or not own_end:
        return first or eot
    tail = gap.rstrip()
    return next((s for s in specials if tail.endswith(s)), eot)


def _prefix_ends(tok, conv: list[dict], full: str, kw: dict, notes: list[str]) -> list[int | None]:
    """Where the render of ``conv[:k]`` ends inside the full render, for every k (None: not a prefix of it)."""
    ends: list[int | None] = []
    for k in range(1, len(conv) + 1):
        try:
            prefix = full if k == len(conv) else _render(tok, conv[:k], **kw)
        except Exception:  # noqa: BLE001 - some templates refuse partial conversations
            prefix = None
        if prefix is not None and not full.startswith(prefix) and any(thinking_of(m) for m in conv[:k]):
            # A template that keeps the thinking of the last assistant turn only (gpt-oss, Qwen3) renders a prefix
            # ending in a thinking turn with thinking that the full render drops: compare without it.
            try:
                prefix = _render(tok, [_without_thinking(m) for m in conv[:k]], **kw)
            except Exception:  # noqa: BLE001 - as above
                prefix = None
        if prefix is not None and full.startswith(prefix):
            ends.append(len(prefix))
        else:
            ends.append(None)
            if k < len(conv):
                notes.append(f"prefix render of messages[:{k}] is not a prefix of the full render")
    return ends


def _generation_prompts(tok, conv: list[dict], kw: dict) -> dict[int, str]:
    """The generation prompt before each assistant turn: render(prefix, gen=True) minus render(prefix)."""
    out: dict[int, str] = {}
    for i, m in enumerate(conv):
        if m["role"] != "assistant" or i == 0:
            continue
        try:
            without = _render(tok, conv[:i], **kw)
            with_gen = _render(tok, conv[:i], add_generation_prompt=True, **kw)
        except Exception:  # noqa: BLE001, S112 - a prefix the template refuses has no generation prompt to measure
            continue
        if with_gen.startswith(without):
            out[i] = with_gen[len(without):]
    return out


@dataclass
class _Layout:
    """Every character of the render with its (message, role, speaker), and each turn's end-of-turn token."""

    char_roles: list
    turn_eots: dict[int, str | None]
    eot_at: dict[int, int | None]  # where each message's end-of-turn token starts
    order: list[int]               # messages by position in the render


def _paint_turns(tok, lt, conv, full, spans, seg_ends, gen_prompts, notes):
    """Content, then the scaffolding after it: end of turn, separator, the next message's header and (for an
    assistant) the preamble after its generation prompt. Returns the layout and its ``paint(a, b, msg, role)``."""
    if "special_strings" not in lt.memo:  # the backend builds the added vocabulary anew on every call
        lt.memo["special_strings"] = _special_strings(tok)
    eot, specials = lt.eot_token, lt.memo["special_strings"]
    layout = _Layout([None] * len(full), {}, {}, sorted(range(len(conv)), key=lambda i: spans[i]))

    def paint(a: int, b: int, msg: int, role: str) -> None:
        for x in range(max(a, 0), min(b, len(full))):
            layout.char_roles[x] = (msg, role, conv[msg]["role"])

    order = layout.order
    overlaps: list[tuple[int, int, int]] = []  # (start, end, message): generation prompt inside content
    for rank, i in enumerate(order):
        s, e = spans[i]
        paint(s, e, i, "content")
        # scaffolding after this content, up to the next message's content
        nxt = order[rank + 1] if rank + 1 < len(order) else None
        gap_end = spans[nxt][0] if nxt is not None else len(full)
        split = seg_ends[i] if seg_ends[i] is not None and e <= seg_ends[i] <= gap_end else None
        # The turn's end-of-turn token: the tokenizer's EOT if the template writes it here, else
        # the first special token after the content (harmony ends non-final turns with <|end|>,
        # the final one with <|return|>).
        turn_eot = _turn_eot(full, e, split if split is not None else gap_end, eot, specials,
                             own_end=split is not None and bool(conv[i].get("tool_calls")))
        layout.turn_eots[i] = turn_eot
        if split is None:  # no reliable prefix boundary: end this turn right after its EOT token
            k = full.find(turn_eot, e, gap_end) if turn_eot else -1
            split = k + len(turn_eot) if k >= 0 else gap_end if nxt is None else e
            while nxt is not None and split < gap_end and full[split] in " \n":
                split += 1
        k = full.find(turn_eot, e, split) if turn_eot else -1
        eot_end = k + len(turn_eot) if k >= 0 else split
        layout.eot_at[i] = k if k >= 0 else None
        paint(e, eot_end, i, "eot")
        paint(eot_end, split, i, "sep")
        if nxt is not None:
            paint(split, gap_end, nxt, "header")
            gp = gen_prompts.get(nxt)  # "" when the template has no generation prompt (Mistral, Llama-2):
            # then everything after the previous turn is what the model generates, not a header.
            if conv[nxt]["role"] == "assistant" and gp is not None:
                head = full.find(gp, split, gap_end)
                if head >= 0:
                    paint(head + len(gp), gap_end, nxt, "preamble")
                else:
                    # The generation prompt may end inside the content: content written as '<think>\n...' after
                    # a generation prompt ending in '<think>\n' (QwQ, Qwen3.5). The model is given those
                    # characters at inference, so they are header, painted over the content below.
                    head = full.find(gp, split, spans[nxt][1])
                    if 0 <= head < gap_end < head + len(gp):
                        overlaps.append((gap_end, head + len(gp), nxt))
                    else:
                        notes.append(f"generation prompt of message {nxt} not found before its content")
    paint(0, spans[order[0]][0], order[0], "header")
    for a, b, msg in overlaps:
        paint(a, b, msg, "header")
    return layout, paint


def _terminators(tok, conv, tokens, layout: _Layout, eot: str | None, notes: list[str]) -> dict[int, int]:
    """Token index of each assistant message's end-of-turn token."""
    out = {}
    for i, m in enumerate(conv):
        if m["role"] == "assistant":
            want = layout.turn_eots.get(i) or eot
            want_id = tok.convert_tokens_to_ids(want) if want else None
            idx = next((j for j, t in enumerate(tokens) if t.message == i and t.role == "eot" and t.id == want_id),
                       None)
            if idx is not None:
                out[i] = idx
            else:
                notes.append(f"assistant message {i} has no end-of-turn token {want!r} in the render")
    return out


def _inference_prompt(tok, messages: list[dict] | None, kw: dict, notes: list[str]) -> list[int] | None:
    """What the model sees at inference before it answers: the prompt rendered with the generation prompt."""
    if not messages:
        return None
    try:
        return list(tok(_render(tok, messages, add_generation_prompt=True, **kw), add_special_tokens=False)["input_ids"])
    except Exception:  # noqa: BLE001
        notes.append("the prompt alone cannot be rendered with add_generation_prompt=True")
        return None


def chat_oracle(case: Case, lt: LoadedTokenizer, messages: list[dict] | None = None,
                prompt_messages: list[dict] | None = None) -> Oracle:
    """Reference for a conversation: the chat template render, tokenized as ``apply_chat_template`` does.

    Steps: render; where each prefix render ends; each assistant turn's generation prompt; where each message's
    content is; paint every character with its role; what assistants generate besides content (thinking, tool
    calls); tokenize and give each token the role of its characters; each assistant turn's end-of-turn token;
    the inference prompt.
    """
    tok = lt.tokenizer
    if not lt.has_chat_template:
        raise OracleError(f"tokenizer {lt.id} has no chat template; conversational paths need one")
    conv = messages or case.conversation
    kw = case.render_kwargs
    try:
        full = _render(tok, conv, **kw)
    except Exception as exc:  # noqa: BLE001 - template errors are user-facing facts, not crashes
        raise OracleError(f"chat template of {lt.id} cannot render case {case.id}: {exc}") from None
    notes: list[str] = []
    seg_ends = _prefix_ends(tok, conv, full, kw, notes)
    gen_prompts = _generation_prompts(tok, conv, kw)
    spans, lost = _locate_contents(tok, conv, full, seg_ends, gen_prompts, kw)
    layout, paint = _paint_turns(tok, lt, conv, full, spans, seg_ends, gen_prompts, notes)
    unrendered_calls = _paint_assistant_output(tok, conv, full, kw, spans, layout.eot_at, layout.char_roles, paint)

    ids, offsets = _encode(tok, full, add_special_tokens=False)
    last = layout.order[-1]
    tokens = _token_roles(ids, offsets, layout.char_roles, tok.bos_token_id, (last, "sep", conv[last]["role"]))
    eot = lt.eot_token
    terminators = _terminators(tok, conv, tokens, layout, eot, notes)
    mixed = [i for i, t in enumerate(tokens) if t.role == MIXED]
    if mixed:
        notes.append("undecidable: token(s) " + ", ".join(f"{i} {tok.decode([tokens[i].id])!r}" for i in mixed)
                     + " span two roles")
    _check_tool_layout(conv, lost + unrendered_calls, terminators, lt.id, case.id)
    final = len(conv) - 1 if conv[-1]["role"] == "assistant" else None
    pm = prompt_messages if prompt_messages is not None else (conv[:-1] if final is not None else None)
    prompt_ids = _inference_prompt(tok, pm, kw, notes)
    eot_id = tok.convert_tokens_to_ids(eot) if eot else None
    return Oracle(case_id=case.id, tokenizer_id=lt.id, view="chat", text=full, tokens=tokens, eot_token=eot,
                  eot_id=eot_id, bos_id=tok.bos_token_id, prompt_ids=prompt_ids,
                  generation_prompt=gen_prompts.get(final) if final is not None else None, terminators=terminators,
                  final_message=final, notes=notes)


def _paint_assistant_output(tok, conv, full, kw, spans, eot_at, char_roles, paint) -> list[int]:
    """What an assistant generates besides its content: the thinking the template keeps (role
    ``reasoning``; a template that drops it leaves nothing to find) and its tool calls (role
    ``content``: everything the template writes for them between the content and the end of turn).
    Returns the messages whose tool calls the template does not write there."""
    unrendered = []
    for i, m in enumerate(conv):
        if m["role"] != "assistant":
            continue
        s, e = spans[i]
        k = eot_at.get(i)
        if m.get("tool_calls"):
            if k is not None and k > e and full[e:k].strip():
                paint(e, k, i, "content")
            else:
                unrendered.append(i)
        thinking = thinking_of(m)
        if not thinking:
            continue
        span = (_sentinel_span(tok, conv, i, full, kw, field="reasoning_content", needles=(thinking.strip(),))
                if m.get("reasoning_content") else None)
        if span is None:  # inline <think>, or no marker: search this message's scaffolding before its content
            lo = next((x for x in range(s - 1, -1, -1) if char_roles[x] is None or char_roles[x][0] != i), -1) + 1
            pos = full.find(thinking.strip(), lo, s)
            span = (pos, pos + len(thinking.strip())) if pos >= 0 else None
        if span is not None:
            paint(span[0], span[1], i, "reasoning")
    return unrendered


def reference_case(case: Case, view: str | None) -> Case:
    """The case as the oracle must judge it: a string pair that TRL rendered as a chat (``view`` "chat")
    becomes that user/assistant conversation; anything else stays as it is."""
    if case.reference_completion is not None:
        import dataclasses

        case = dataclasses.replace(case, completion=case.reference_completion, reference_completion=None)
    return as_conversation(case) if view == "chat" and case.shape == "string_pc" else case


def as_conversation(case: Case) -> Case:
    """A string prompt/completion case as the user/assistant conversation old TRL renders it to."""
    import dataclasses

    msgs = ({"role": "user", "content": case.prompt}, {"role": "assistant", "content": case.completion})
    return dataclasses.replace(case, messages=msgs, prompt=None, completion=None)


def oracle_for(case: Case, lt: LoadedTokenizer) -> Oracle:
    """The reference view a case is judged against: string pairs by concatenation, conversations by template."""
    return string_oracle(case, lt) if case.shape == "string_pc" else chat_oracle(case, lt)
