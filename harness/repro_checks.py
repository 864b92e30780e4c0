"""The conformance rules restated on plain lists, for standalone repro scripts.

``sft-conformance repro`` pastes this file's source into the script it writes, so the script
needs nothing but the standard library here: no harness import. The reference table (token id,
role, message, speaker, parts) is the oracle's, computed by the harness without TRL and
embedded in the script as data. Each function mirrors the rule of the same id in
``conformance/rules``; ``tests/test_repro.py`` checks that both give the same verdict on every
seed bug and on clean encodings.
"""

import difflib

IGNORE = -100


class Sequence:
    """One collated row aligned to the reference the way the harness aligns it (difflib blocks)."""

    def __init__(self, ids, labels, attention, reference, facts, decode):
        self.ids, self.labels, self.attention = ids, labels, attention
        self.ref, self.facts, self.decode = reference, facts, decode
        self.real = [p for p, a in enumerate(attention) if a]
        real_ids = [ids[p] for p in self.real]
        ref_ids = [t[0] for t in reference]
        self.to_ref = {p: None for p in self.real}
        self.from_ref = {}
        matcher = difflib.SequenceMatcher(a=real_ids, b=ref_ids, autojunk=False)
        for a, b, size in matcher.get_matching_blocks():
            for k in range(size):
                self.to_ref[self.real[a + k]] = b + k
                self.from_ref[b + k] = self.real[a + k]
        self.missing = [i for i in range(len(ref_ids)) if i not in self.from_ref]
        cap = facts.get("max_length")
        self.truncated = False
        if self.missing and cap is not None and len(real_ids) >= cap - 1 and len(ref_ids) > cap:
            n = len(self.missing)
            self.truncated = self.missing in (list(range(n)), list(range(len(ref_ids) - n, len(ref_ids))))

    def trained(self, p):
        return self.labels[p] != IGNORE

    def role(self, p):
        i = self.to_ref.get(p)
        return None if i is None else self.ref[i]

    def lost(self, i):
        return self.truncated and i in self.missing

    def required(self, roles, messages):
        """(present positions, missing reference indices) of tokens with these roles in these messages."""
        present, missing = [], []
        for i, (_, role, message, _, parts) in enumerate(self.ref):
            if role == "mixed" or role not in roles or message not in messages:
                continue
            p = self.from_ref.get(i)
            if p is not None:
                present.append(p)
            elif not self.lost(i):
                missing.append(i)
        return present, missing

    def scoped_messages(self):
        f = self.facts
        if f["view"] == "string":
            return [-1]
        if f["scope"] in ("assistant", "full"):
            return sorted({t[2] for t in self.ref if t[3] == "assistant"} | {int(m) for m in f["terminators"]
                                                                              if int(m) >= 0})
        return [f["final"]] if f["final"] is not None else []

    def terminator(self, message):
        """(position or None, reference index or None) of a message's end-of-turn token."""
        i = self.facts["terminators"].get(str(message))
        return (None, None) if i is None else (self.from_ref.get(i), i)

    def show(self, positions):
        return " ".join(f"{p}:{self.decode([self.ids[p]])!r}/{self.labels[p]}" for p in positions[:8])


def _bos_na(seq):
    f = seq.facts
    if f["bos_id"] is None:
        return "tokenizer has no BOS token"
    if f["bos_id"] in (f["eot_id"], f["eos_token_id"], f["pad_token_id"]):
        return "BOS shares its id with EOS/EOT/pad"
    return None


def _earlier_turns(seq):
    f = seq.facts
    if f["view"] != "chat":
        return []
    turns = sorted({t[2] for t in seq.ref if t[3] == "assistant"} | {int(m) for m in f["terminators"] if int(m) >= 0})
    return [m for m in turns if m != f["final"]]


def check(rule, seq):
    """(status, message) with status ``pass``, ``fail`` or ``not_applicable``."""
    f = seq.facts
    final = f["final"]
    if rule in ("EOS-001", "EOS-002"):
        if final is None:
            return "not_applicable", "no final assistant message"
        pos, i = seq.terminator(final)
        if i is None:
            return "not_applicable", "the reference has no end-of-turn token after the final answer"
        if pos is None:
            if seq.lost(i):
                return "not_applicable", "end-of-turn token cut by max_length"
            if rule == "EOS-002":
                return "not_applicable", "no end-of-turn token (EOS-001 reports it)"
            return "fail", f"end-of-turn token {f['eot_token']!r} is missing after the final answer"
        if rule == "EOS-002" and not seq.trained(pos):
            return "fail", f"end-of-turn token at position {pos} has label -100"
        return "pass", f"end-of-turn token at position {pos}"
    if rule == "GEN-001":
        header = (f["generation_prompt"] or "").strip()
        if f["view"] != "chat" or not header:
            return "not_applicable", "no generation prompt in this view"
        aligned = [p for p in seq.real if seq.to_ref.get(p) is not None]
        tail = [p for p in seq.real if aligned and p > aligned[-1]]
        if header in seq.decode([seq.ids[p] for p in tail]):
            return "fail", f"tokens after the final turn spell the generation prompt {header!r}: {seq.show(tail)}"
        return "pass", "no generation prompt after the final turn"
    if rule == "GEN-002":
        if f["view"] != "chat":
            return "not_applicable", "plain text has no assistant header"
        bad = [p for m in seq.scoped_messages() for p in seq.required(("header",), [m])[0] if seq.trained(p)]
        return ("fail", f"{len(bad)} assistant-header token(s) trained: {seq.show(bad)}") if bad else \
            ("pass", "assistant headers masked")
    if rule == "MASK-001":
        bad = [p for p, (i, lab) in enumerate(zip(seq.ids, seq.labels)) if lab not in (IGNORE, i)]
        return ("fail", f"{len(bad)} label(s) differ from the input id: {seq.show(bad)}") if bad else \
            ("pass", "labels are -100 or the input id")
    if rule == "MASK-002":
        bad = []
        for p in seq.real:
            t = seq.role(p)
            if t is None or t[1] == "mixed":
                continue
            _, role, message, speaker, _ = t
            prompt_side = (role == "prompt" if f["view"] == "string" else
                           speaker in ("system", "user") if f["scope"] == "assistant" else message != final)
            if (role == "bos" or prompt_side) and seq.trained(p):
                bad.append(p)
        return ("fail", f"{len(bad)} prompt token(s) are trained: {seq.show(bad)}") if bad else \
            ("pass", "prompt tokens masked")
    if rule == "MASK-003":
        if final is None:
            return "not_applicable", "no final assistant message"
        present, missing = seq.required(("completion" if f["view"] == "string" else "content",), [final])
        if not present and not missing:
            return "not_applicable", "empty completion"
        untrained = [p for p in present if not seq.trained(p)]
        if missing:
            return "fail", f"{len(missing)} completion token(s) are missing from the sequence"
        if untrained:
            return "fail", f"{len(untrained)} of {len(present)} completion token(s) have label -100"
        return "pass", f"{len(present)} completion tokens trained"
    if rule == "MASK-004":
        pads = [p for p, a in enumerate(seq.attention) if not a]
        if not pads:
            return "not_applicable", "no padding in this row"
        bad = [p for p in pads if seq.trained(p)]
        return ("fail", f"{len(bad)} padding position(s) trained") if bad else ("pass", "padding masked")
    if rule == "MASK-005":
        if any(seq.trained(p) for p in seq.real) or f.get("warnings"):
            return "pass", "something is trained, or TRL warned"
        return "fail", f"all {len(seq.real)} labels are -100 and TRL raised no error or warning"
    if rule in ("BOS-001", "BOS-002"):
        na = _bos_na(seq)
        if na:
            return "not_applicable", na
        bos = f["bos_id"]
        hits = [p for p in seq.real if seq.ids[p] == bos]
        reference = [i for i, t in enumerate(seq.ref) if t[0] == bos]
        if rule == "BOS-001":
            if len(hits) > max(1, len(reference)):
                return "fail", f"{len(hits)} BOS tokens at {hits[:6]}; the reference has {len(reference)}"
            if hits and hits[0] != seq.real[0] and (not reference or reference[0] == 0):
                return "fail", f"BOS at position {hits[0]}, not at the start"
            return "pass", f"{len(hits)} BOS token(s)"
        want = bool(seq.ref) and seq.ref[0][0] == bos
        has = bool(seq.real) and seq.ids[seq.real[0]] == bos
        if want != has:
            return "fail", ("the reference starts with BOS but the sequence does not" if want
                            else "the sequence starts with a BOS the reference does not have")
        return "pass", "starts with BOS exactly when the reference does"
    if rule == "TOK-001":
        want = f["prompt_ids"]
        if not want:
            return "not_applicable", "no prompt to compare"
        real = [seq.ids[p] for p in seq.real]
        if real[:len(want)] == want:
            return "pass", f"{len(want)} prompt tokens match"
        if seq.truncated:
            return "not_applicable", "truncated example"
        if any(t[1] == "mixed" for t in seq.ref):
            return "not_applicable", "prompt and completion merge into one token at the join (undecidable)"
        d = next((i for i, (a, b) in enumerate(zip(real, want)) if a != b), min(len(real), len(want)))
        return "fail", f"training sequence diverges from the inference prompt at token {d}"
    if rule == "TOK-002":
        if f["view"] != "string" or seq.truncated or any(t[1] == "mixed" for t in seq.ref):
            return "not_applicable", "round trip is defined for untruncated string completions without a merge"
        want = seq.decode([t[0] for t in seq.ref if t[1] in ("completion", "eos")])
        got = seq.decode([seq.ids[p] for p in seq.real if seq.trained(p)])
        return ("fail", f"trained text {got!r} != completion + EOS {want!r}") if got != want else \
            ("pass", "trained text is the completion + EOS")
    if rule == "TOK-003":
        extra = [p for p, i in seq.to_ref.items() if i is None]
        missing = [] if seq.truncated else seq.missing
        if extra or missing:
            return "fail", (f"{len(extra)} token(s) inserted, {len(missing)} missing vs the reference: "
                            f"{seq.show(sorted(extra))}")
        return "pass", "sequence equals the reference"
    if rule in ("MULTI-001", "MULTI-002"):
        turns = _earlier_turns(seq)
        if not turns:
            return "not_applicable", "no assistant turn besides the final one"
        bad = 0
        for m in turns:
            if rule == "MULTI-001":
                present, missing = seq.required(("content",), [m])
                bad += sum(1 for p in present if not seq.trained(p)) + len(missing)
            else:
                pos, i = seq.terminator(m)
                bad += int(i is not None and ((pos is None and not seq.lost(i)) or
                                              (pos is not None and not seq.trained(pos))))
        what = "content token(s)" if rule == "MULTI-001" else "end-of-turn token(s)"
        return ("fail", f"{bad} {what} of earlier assistant turns not trained") if bad else \
            ("pass", f"{len(turns)} earlier assistant turn(s) trained")
    return "not_applicable", f"no standalone check for {rule}"
