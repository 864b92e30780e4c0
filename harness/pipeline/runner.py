"""Evaluate rules over tokenizer x path x case, caching the expensive parts.

Tokenizers load once per process; each (tokenizer, path) pair runs TRL once over all cases
(adapters group cases internally); oracles are computed once per (tokenizer, case). Both the
pytest suite and the CLI read from the same ``Session``.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from dataclasses import dataclass, field

from harness import adapters
from harness.adapters.versions import library_versions
from harness.pipeline.cases import Case, for_tokenizer, load_cases
from harness.pipeline.encoding import NOT_APPLICABLE, UNDECIDABLE, Encoding, NotApplicable, Verdict
from harness.pipeline.oracle import Oracle, OracleError, OracleUndecidable, oracle_for, reference_case
from harness.tokenizers import registry as tokenizer_registry


@dataclass
class Record:
    """One verdict of one rule on one (tokenizer, path, case), as written to the JSON report."""

    tokenizer: str
    path: str
    case: str
    rule: str
    status: str
    message: str
    positions: list[int] = field(default_factory=list)
    evidence: dict = field(default_factory=dict)
    expected_failure: str | None = None
    modifier: str | None = None  # batch rules: the modifier that laid the batch out (packing, padding-free)
    # the row's signatures and, where one of them is read with TRL's warnings (an entry's `when_warned`), those
    # warnings on its dataset: what `signature` and `when_warned` are matched against when a report is read
    # again (absent when the row has no signature)
    signs: list[str] | None = None
    warnings: list[str] | None = None

    def to_dict(self) -> dict:
        out = dict(self.__dict__)
        for key in ("modifier", "signs", "warnings"):
            if out[key] is None:
                del out[key]
        return out


def effective_status(rec: Record | dict) -> str:
    """A FAIL covered by an expectation is reported as ``xfail``; a PASS under one is ``xpass``."""
    d = rec if isinstance(rec, dict) else rec.to_dict()
    if d.get("expected_failure"):
        return {"fail": "xfail", "pass": "xpass"}.get(d["status"], d["status"])
    return d["status"]


@dataclass
class EncodedItems:
    """A list's items as the JSON report holds them, encoded by the process that made them.

    A run spread over worker processes sends each tokenizer's records and evidence back to its parent.
    Sent as objects, the parent unpickled them while the workers ran (1.1 CPU s for one release's 145,000
    records) and encoded them for the report after the last worker had finished (1.5 s with one core
    idle). Each worker now encodes its own, so that is done in parallel and the parent joins bytes.
    ``chunks`` hold the items' JSON objects, joined by ``,`` within a chunk, byte for byte as ``json.dumps``
    writes them in a list.
    """

    chunks: list[bytes] = field(default_factory=list)
    count: int = 0

    @staticmethod
    def _text(items: list[dict]) -> list[bytes]:
        return [json.dumps(items, ensure_ascii=False, separators=(",", ":"))[1:-1].encode("utf-8")] if items else []

    @classmethod
    def of(cls, items: list[dict]) -> EncodedItems:
        return cls(cls._text(items), len(items))

    @classmethod
    def joined(cls, parts: list) -> EncodedItems:
        """One after the other, in order; a part still a list (a tokenizer cut short in this process) is encoded."""
        out = cls()
        for part in parts:
            out.add(part if isinstance(part, cls) else cls.of(part))
        return out

    def add(self, part: EncodedItems) -> None:
        self.chunks += part.chunks
        self.count += part.count

    def __len__(self) -> int:
        return self.count

    def decoded(self) -> list[dict]:
        return json.loads(b"[" + b",".join(self.chunks) + b"]")


@dataclass
class EncodedRecords(EncodedItems):
    """Records as ``EncodedItems``, with ``tally``: the records counted by (tokenizer, path, rule, effective
    status), which is what the summary, the table printed after a run and its exit status read."""

    tally: Counter = field(default_factory=Counter)

    @classmethod
    def of(cls, records: list[Record]) -> EncodedRecords:
        rows = [r.to_dict() for r in records]
        return cls(cls._text(rows), len(rows),
                   Counter((d["tokenizer"], d["path"], d["rule"], effective_status(d)) for d in rows))

    def add(self, part: EncodedRecords) -> None:
        super().add(part)
        self.tally.update(part.tally)


class Session:
    """Caches tokenizers, encodings and oracles for one run."""

    def __init__(self, cases: list[Case] | None = None, path_adapters: dict | None = None, ahead=None):
        self.cases = cases if cases is not None else load_cases()
        self.ahead = ahead  # a ``fanout.Ahead`` computing this session's encodings in other processes, or None
        self._adapters = dict(path_adapters or {})  # a path's adapter configured otherwise (a user's SFTConfig)
        self._encodings: dict[tuple[str, str], dict[str, Encoding | NotApplicable]] = {}
        self._oracles: dict[tuple[str, str], Oracle | OracleError] = {}
        self._contexts: dict[tuple[str, str, str], tuple] = {}  # one Context (and alignment) per encoding
        self._batches: dict[tuple[str, str, str], object] = {}
        self._computed: dict[tuple, object] = {}  # the units of ``COMPUTED``: ("training", ...), ("at_scale", ...)

    def tokenizer(self, tokenizer_id: str):
        return tokenizer_registry.load(tokenizer_id)

    def expectation_tokenizer(self, tokenizer_id: str) -> str:
        """The id expectations know this tokenizer by: itself, or the catalog tokenizer it is a copy of
        (same content hash), so a renamed folder gets the catalog's known-upstream verdicts."""
        lt = self.tokenizer(tokenizer_id)
        if "catalog_alias" not in lt.memo:
            lt.memo["catalog_alias"] = tokenizer_registry.catalog_alias(lt)
        return lt.memo["catalog_alias"] or tokenizer_id

    def forget(self, tokenizer_id: str) -> None:
        """Let go of everything held for one tokenizer: its encodings, oracles, contexts, batches and computed units, the
        trainers the adapters keep, and the loaded tokenizer. ``run`` judges each tokenizer once and hands
        its records on as plain data; a worker that kept all it had judged grew past 2 GB, and the kernel's
        work on that memory was 12 of a 40 s run (docs/suite.md)."""
        from harness.adapters import lending

        for cache in (self._encodings, self._oracles, self._contexts, self._batches):
            for key in [k for k in cache if k[0] == tokenizer_id]:
                del cache[key]
        for key in [k for k in self._computed if k[1] == tokenizer_id]:
            del self._computed[key]
        for adapter in self._adapters.values():
            adapter.release()
        dropped = tokenizer_registry.forget(tokenizer_id)
        if dropped is not None:
            lending.forget(dropped.tokenizer)

    def adapter(self, path: str):
        """This session's instance of the path's adapter (what it learns about the installed TRL stays here)."""
        if path not in self._adapters:
            import copy

            self._adapters[path] = copy.copy(adapters.get(path))
        return self._adapters[path]

    def encodings(self, tokenizer_id: str, path: str) -> dict[str, Encoding | NotApplicable]:
        key = (tokenizer_id, path)
        if key not in self._encodings:
            self._take_ahead(("encodings", tokenizer_id))
        if key not in self._encodings:
            self._encodings[key] = self.adapter(path).encode(self.tokenizer(tokenizer_id), self.cases)
        return self._encodings[key]

    def _take_ahead(self, unit: tuple[str, str]) -> None:
        """Adopt what a worker computed for ``unit`` (``compute_ahead``), if one did; what it could not
        compute stays missing and is computed here."""
        if self.ahead is None:
            return
        result = self.ahead.take(unit)
        if not result:
            return
        if "value" in result:
            self._computed.setdefault(unit, result["value"])
            return
        tid = unit[1]
        for path, encodings in result.get("encodings", {}).items():
            self._encodings.setdefault((tid, path), encodings)
        for (path, modifier), built in result.get("batches", {}).items():
            self._batches.setdefault((tid, path, modifier), built)

    def encoding(self, tokenizer_id: str, path: str, case_id: str) -> Encoding | NotApplicable:
        return self.encodings(tokenizer_id, path)[case_id]

    def oracle(self, tokenizer_id: str, case: Case) -> Oracle | OracleError:
        key = (tokenizer_id, case.id, case.shape)
        if key not in self._oracles:
            lt = self.tokenizer(tokenizer_id)
            resolved = for_tokenizer(case, lt)
            try:
                if isinstance(resolved, str):
                    raise OracleError(resolved)
                self._oracles[key] = oracle_for(resolved, lt)
            except OracleError as exc:
                self._oracles[key] = exc
        return self._oracles[key]

    def judge(self, tokenizer_id: str, path: str, case: Case, rule) -> Verdict:
        """Apply one rule; NOT_APPLICABLE carries the reason (path missing, case shape, template)."""
        enc = self.encoding(tokenizer_id, path, case.id)
        if isinstance(enc, NotApplicable):
            return Verdict(rule.id, NOT_APPLICABLE, enc.reason)
        ctx = self._context(tokenizer_id, enc, case)
        if isinstance(ctx, OracleUndecidable):
            return Verdict(rule.id, UNDECIDABLE, f"oracle: {ctx}")
        if isinstance(ctx, OracleError):
            return Verdict(rule.id, NOT_APPLICABLE, f"oracle: {ctx}")
        return rule(ctx)

    def _context(self, tokenizer_id: str, enc: Encoding, case: Case):
        """The rules' Context for an encoding, against the reference view TRL rendered; or the OracleError."""
        from conformance.rules import Context

        key = (tokenizer_id, enc.path, case.id)
        cached = self._contexts.get(key)
        if cached is not None and cached[0] is enc:
            return cached[1]
        case = reference_case(case, enc.provenance.get("reference_view"))
        orc = self.oracle(tokenizer_id, case)
        if isinstance(orc, OracleError):
            ctx = orc
        else:
            tok = self.tokenizer(tokenizer_id).tokenizer
            ctx = Context(enc.row(), orc.reference(case.max_length), decode=lambda ids: tok.decode(ids))
        self._contexts[key] = (enc, ctx)
        return ctx

    def token_roles(self, tokenizer_id: str, path: str, case: Case) -> list[str] | None:
        """Per position: ``pad``, the oracle role (``content@2``, ``header@1``, ``prompt``...) or
        ``not-in-reference`` for a token the reference rendering does not have; None without an oracle."""
        enc = self.encoding(tokenizer_id, path, case.id)
        if isinstance(enc, NotApplicable) or not enc.ok:
            return None
        ctx = self._context(tokenizer_id, enc, case)
        if isinstance(ctx, OracleError):
            return None
        roles = []
        for p, att in enumerate(enc.attention_mask):
            t = ctx.oracle_token(p) if att else None
            roles.append("pad" if not att else "not-in-reference" if t is None
                         else f"{t.role}@{t.message}" if t.message is not None and t.message >= 0 else t.role)
        return roles

    def evidence(self, tokenizer_id: str, path: str, case: Case) -> dict | None:
        """What the HTML report shows for one case: tensors, decoded tokens, roles, specials."""
        enc = self.encoding(tokenizer_id, path, case.id)
        if isinstance(enc, NotApplicable):
            return None
        lt = self.tokenizer(tokenizer_id)
        if "special_ids" not in lt.memo:  # added_tokens_decoder is rebuilt by the backend on every access
            tok = lt.tokenizer
            lt.memo["special_ids"] = set(tok.all_special_ids) | {
                i for i, t in getattr(tok, "added_tokens_decoder", {}).items() if getattr(t, "special", False)}
        special = lt.memo["special_ids"]
        return {"tokenizer": tokenizer_id, "path": path, "case": case.id, "loss_scope": enc.loss_scope,
                "input_ids": enc.input_ids, "labels": enc.labels, "attention_mask": enc.attention_mask,
                "tokens": enc.tokens, "roles": self.token_roles(tokenizer_id, path, case),
                "special": [int(i in special) for i in enc.input_ids], "refused": enc.refused,
                "dropped": enc.dropped, "warnings": enc.warnings[:5]}

    def records(self, tokenizer_ids, paths, rules, expectations=(), into: list | None = None) -> list[Record]:
        """Every verdict, appended to ``into`` as it is judged (so an interrupted run keeps what it has)."""
        from harness.pipeline import expectations as exp

        versions = library_versions()
        expectations = exp.Expectations.of(expectations)
        warned = {e.signature for e in expectations if e.when_warned}  # signs read with TRL's warnings
        out = into if into is not None else []
        for tid in tokenizer_ids:
            known_as = self.expectation_tokenizer(tid)
            for path in paths:
                for case in self.cases:
                    facts = self.facts(tid, path, case.id)
                    signed = {"signs": list(facts.signs)} if facts.signs else {}
                    if warned.intersection(facts.signs):
                        signed["warnings"] = list(facts.warnings)
                    for r in rules:
                        v = self.judge(tid, path, case, r)
                        e = exp.find(expectations, r.id, known_as, path, case.id, versions, facts=facts, status=v.status)
                        out.append(Record(tid, path, case.id, r.id, v.status, v.message, v.positions,
                                          _jsonable(v.evidence), e.reference if e else None, **signed))
        return out

    def facts(self, tokenizer_id: str, path: str, case_id: str):
        """What the record of this row says for itself to the expectations (``expectations.Facts``): its
        signatures and TRL's warnings on its dataset; none where the row was not encoded."""
        from harness.pipeline import expectations as exp

        try:
            enc = self.encoding(tokenizer_id, path, case_id)
        except tokenizer_registry.TokenizerUnavailable:
            return exp.NO_FACTS
        return exp.Facts.of(enc) if isinstance(enc, Encoding) else exp.NO_FACTS

    def modifier_batches(self, tokenizer_id: str, path: str, modifier: str):
        """(cases, plain encodings, packed batches) of every case that applies, laid out by ``modifier``
        with TRL's own preparation and collator; or the reason (a string starting ``NOT_APPLICABLE``
        or ``NOT_EVALUATED``) there are none. Built once per (tokenizer, path, modifier)."""
        key = (tokenizer_id, path, modifier)
        if key not in self._batches:
            self._take_ahead(("batches", tokenizer_id))
        if key not in self._batches:
            self._batches[key] = self._build_batches(tokenizer_id, path, modifier)
        return self._batches[key]

    def _build_batches(self, tokenizer_id: str, path: str, modifier: str):
        adapter = self.adapter(path)
        reason = adapter.modifier_available(modifier) if hasattr(adapter, "modifier_available") else \
            NotApplicable(f"path {path} takes no modifiers")
        if reason:
            return f"NOT_APPLICABLE: {reason.reason}"
        try:
            lt = self.tokenizer(tokenizer_id)
        except tokenizer_registry.TokenizerUnavailable as exc:
            return f"NOT_EVALUATED: {exc}"
        cases = [for_tokenizer(c, lt) for c in self.cases if c.max_length is None]
        cases = [c for c in cases if not isinstance(c, str)]
        plain = {c.id: self.encodings(tokenizer_id, path).get(c.id) for c in cases}
        cases = [c for c in cases if isinstance(plain[c.id], Encoding) and plain[c.id].ok]
        if not cases:
            return f"NOT_APPLICABLE: no case of {path} applies to {tokenizer_id}"
        batches = adapter.modifier_batches(lt, cases, modifier)
        if isinstance(batches, NotApplicable):
            return f"NOT_APPLICABLE: {batches.reason}"
        return cases, plain, batches

    def _computed_once(self, unit: tuple, compute):
        """What ``compute()`` returns for ``unit``, computed once: by a worker ahead if one did, else here."""
        if unit not in self._computed:
            self._take_ahead(unit)
        if unit not in self._computed:
            self._computed[unit] = compute()
        return self._computed[unit]

    def training(self, tokenizer_id: str, path: str, control: bool = False):
        """The training check (``harness.pipeline.training.run_check``) of ``path``, or of the full-sequence
        control: a ``TrainingResult`` or ``NotApplicable``."""
        from harness.pipeline.training import run_check

        return self._computed_once(("training", tokenizer_id, path, control),
                                   lambda: run_check(tokenizer_id, path=path, control=control))

    def at_scale(self, tokenizer_id: str, path: str, modifier: str, rows: int):
        """The cases of ``modifier_batches`` repeated until there are more than ``rows`` of them (each copy's id
        is ``<case>~<k>``), prepared and collated together with ``modifier`` by TRL: (copies, each copy's
        encoding alone, the batches), or the reason there are none (a string, as ``modifier_batches``)."""
        import dataclasses

        def compute():
            built = self.modifier_batches(tokenizer_id, path, modifier)
            if isinstance(built, str):
                return built
            cases, plain, _small = built
            copies = -(-rows // len(cases)) + 1
            many = [dataclasses.replace(c, id=f"{c.id}~{k}") for k in range(copies) for c in cases]
            alone = {m.id: plain[m.id.split("~")[0]] for m in many}
            return many, alone, self.adapter(path).modifier_batches(self.tokenizer(tokenizer_id), many, modifier)

        return self._computed_once(("at_scale", tokenizer_id, path, modifier, rows), compute)

    def modifier_records(self, tokenizer_ids, paths, expectations=(), modifiers=None) -> list[Record]:
        """MOD-001 per case and MOD-002/MOD-003 per batch (case ``*``), for every modifier of every path."""
        from conformance.rules import BATCH_RULES
        from harness.adapters.sft_trainer import MODIFIERS
        from harness.pipeline import expectations as exp
        from harness.pipeline.invariance import documents, packed_differences

        versions = library_versions()
        expectations = exp.Expectations.of(expectations)
        out = []
        for tid in tokenizer_ids:
            known_as = self.expectation_tokenizer(tid)
            for path in paths:
                for modifier in modifiers or MODIFIERS:
                    built = self.modifier_batches(tid, path, modifier)
                    if isinstance(built, str):
                        continue
                    cases, plain, batches = built
                    diffs = {cid: d for b in batches for cid, d in packed_differences(b, plain).items()}
                    rows = [("MOD-001", c.id, Verdict("MOD-001", "fail", diffs[c.id]) if c.id in diffs
                             else Verdict("MOD-001", "pass", "labels as collated alone")) for c in cases]
                    if modifier != "custom_text_field":
                        for rule_id, rule in BATCH_RULES.items():
                            verdicts = [rule(b.rows, documents(b, plain)) for b in batches]
                            worst = next((v for v in verdicts if v.status == "fail"),
                                         next((v for v in verdicts if v.status == "pass"), verdicts[0]))
                            rows.append((rule_id, "*", worst))
                    for rule_id, case_id, v in rows:
                        e = exp.find(expectations, rule_id, known_as, path, case_id, versions, modifier) or (
                            exp.find(expectations, rule_id, known_as, path, "*", versions, modifier))
                        if e and v.status == "pass" and rule_id == "MOD-001" and diffs:
                            e = None  # expectations describe the combination: an XPASS only when no case fails
                        out.append(Record(tid, path, case_id, rule_id, v.status, v.message, v.positions,
                                          _jsonable(v.evidence), e.reference if e else None, modifier))
        return out


# One run's selection in this process: what ``judge_tokenizer`` works with (set by ``start_run``; a
# worker process of ``fanout`` sets its own).
_RUN: dict = {}


def start_run(cases: list[Case], paths: list[str], rule_ids: list[str], modifiers: bool) -> None:
    from conformance.rules import RULES
    from harness.pipeline import expectations
    from harness.pipeline.warnings_capture import keep_transformers_off_stderr

    keep_transformers_off_stderr()
    _RUN.update(session=Session(cases), paths=paths, rules=[RULES[r] for r in rule_ids],
                known=expectations.load(), modifiers=modifiers)


def judging_order(tokenizer_ids: list[str]) -> list[str]:
    """The order a run hands its tokenizers to the workers: as given, with those known to have no chat
    template last. They are the quickest to judge (no conversational path applies: 0.4-0.9 s each on 1.16.0
    against 1.6-5 s for the others), so the last units are short and the workers finish close together.
    The report keeps the order asked for."""
    return sorted(dict.fromkeys(tokenizer_ids), key=tokenizer_registry.known_without_chat_template)


def judge_tokenizer(tid: str, out: dict) -> None:
    """Everything a run reports about one tokenizer, into ``out``: ``info`` (what was loaded, or the
    ``reason`` it was not), ``records``, ``modifier_records`` and ``evidence``. Records are added as
    they are judged, so an interrupted run keeps them; once all are judged, ``records``,
    ``modifier_records`` and ``evidence`` are replaced by their encoded forms (``EncodedItems``)."""
    session, paths = _RUN["session"], _RUN["paths"]
    out.update(records=[], modifier_records=[], evidence=[])
    out["info"] = tokenizer_info(session, tid)
    if "reason" in out["info"]:
        return
    session.records([tid], paths, _RUN["rules"], _RUN["known"], into=out["records"])
    if _RUN["modifiers"]:
        out["modifier_records"] = session.modifier_records([tid], paths, _RUN["known"])
    out["evidence"] = [ev for path in paths for case in session.cases
                       if (ev := session.evidence(tid, path, case)) is not None]
    session.forget(tid)  # judged once: nothing of it is asked again
    for key in ("records", "modifier_records"):  # as the report holds them, encoded here (EncodedItems)
        out[key] = EncodedRecords.of(out[key])
    out["evidence"] = EncodedItems.of(out["evidence"])


# What a worker of ``Session.ahead`` computes: per tokenizer, the paths whose encodings and the (path,
# modifier) pairs whose batches its caller will ask for (set by ``start_ahead`` in each worker).
_AHEAD: dict = {}


def start_ahead(demand: dict[str, dict[str, list]]) -> None:
    _AHEAD.update(session=Session(), demand=demand)


def compute_ahead(unit: tuple[str, str], out: dict) -> None:
    """One unit of ``Session.ahead``: ``("encodings", tid)`` or ``("batches", tid)``, computed by this
    process's own Session exactly as the caller's would. A part that raises is left out, so that the
    caller computes it and meets the error itself."""
    kind, tid = unit[:2]
    session = _AHEAD["session"]
    if kind in COMPUTED:
        with contextlib.suppress(Exception):  # left out: the caller computes it and sees the error
            out["value"] = getattr(session, kind)(*unit[1:])
        return
    want = _AHEAD["demand"][tid]
    if kind == "encodings":
        out["encodings"] = {}
        for path in want["paths"]:
            try:
                out["encodings"][path] = session.encodings(tid, path)
            except Exception:  # noqa: BLE001, S112 - left out: the caller computes it and sees the error
                continue
    else:
        out["batches"] = {}
        for path, modifier in want["batches"]:
            try:
                out["batches"][(path, modifier)] = session.modifier_batches(tid, path, modifier)
            except Exception:  # noqa: BLE001, S112 - as above
                continue


# Session methods whose result is one unit of its own: ``("training", tid, path, control)`` and
# ``("at_scale", tid, path, modifier, rows)``, named by the method and its arguments.
COMPUTED = ("training", "at_scale")


def ahead_of(needs, jobs: int):
    """A ``fanout.Ahead`` working through ``needs`` (``("encodings", tid, path)`` and ``("batches", tid, path,
    modifier)``, in the order the caller will ask) from the last one back, then the ``COMPUTED`` units among
    them in order; or None when fewer than four tokenizers are needed or no core is spare."""
    from harness.pipeline import fanout

    demand: dict[str, dict[str, list]] = {}
    computed = [tuple(n) for n in needs if n[0] in COMPUTED]
    for kind, tid, *rest in (n for n in needs if n[0] not in COMPUTED):
        want = demand.setdefault(tid, {"paths": [], "batches": []})
        if kind == "encodings" and rest[0] not in want["paths"]:
            want["paths"].append(rest[0])
        elif kind == "batches" and tuple(rest) not in want["batches"]:
            want["batches"].append(tuple(rest))
    if jobs < 1 or len(demand) < 4:
        return None
    units = [("encodings", t) for t in reversed(demand) if demand[t]["paths"]]
    units += [("batches", t) for t in reversed(demand) if demand[t]["batches"]]
    units += list(dict.fromkeys(computed))
    return fanout.Ahead(units, compute_ahead, jobs, setup=start_ahead, setup_args=(demand,))


def tokenizer_info(session: Session, tid: str) -> dict:
    """What the report says about one requested tokenizer: what was loaded, or (``reason``) why it was not."""
    try:
        lt = session.tokenizer(tid)
    except tokenizer_registry.TokenizerUnavailable as exc:
        return {"status": "not evaluated", "reason": str(exc)}
    return {"hash": lt.content_hash, "source": lt.source, "family": lt.family, "eot_token": lt.eot_token,
            "bos_token": lt.tokenizer.bos_token, "eos_token": lt.tokenizer.eos_token,
            "pad_token": lt.tokenizer.pad_token, "has_chat_template": lt.has_chat_template,
            "judged_as": session.expectation_tokenizer(tid)}  # the catalog tokenizer a copied folder is


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)
