"""``sft-conformance check``: a user's own rows, tokenizer and SFT settings through the same rules.

    sft-conformance check data.jsonl --tokenizer ./my-tokenizer --config sft.yaml --set max_length=2048

1. The dataset (JSONL, JSON, Parquet, CSV, or a folder written by ``save_to_disk``) is read with
   ``datasets``; its type is detected from its columns the way TRL does: a text column
   (``dataset_text_field``, default ``text``), ``prompt``/``completion`` strings, ``prompt``/
   ``completion`` message lists (conversational prompt/completion), or ``messages``.
2. A seeded sample of rows (``--sample N``, or ``--all``) becomes cases; the SFTConfig settings
   (``--config`` YAML and ``--set key=value``, later wins) choose the path and configure it: the
   path's adapter gets them as SFTConfig options, ``max_length`` (the installed SFTConfig's default
   when not given) cuts every row, ``assistant_only_loss`` picks that path, and ``packing`` /
   ``padding_free`` add the batch rules (MOD-001..003) under that layout.
3. TRL's own preparation and collator encode every row; the oracle and the rules judge it,
   exactly as for the golden cases. Expectations apply where they are about a mechanism and not
   one golden case (a shape glob such as ``pc_*``, or ``*``; a ``signature`` the row itself must
   carry), with a tokenizer that is a renamed copy of a catalog one judged as that one (same
   content hash).

Exit codes: 0 no unexpected FAIL, 1 unexpected FAILs, 2 bad input (one line naming the file and
field: an unreadable file, an unknown column layout, a malformed row, an unknown setting).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from harness.pipeline.cases import Case

# SFTConfig fields that change what the data path builds; others (learning rate, logging...) are
# accepted and reported as not affecting the labels.
DATA_FIELDS = {
    "max_length", "max_seq_length", "completion_only_loss", "assistant_only_loss", "dataset_text_field",
    "packing", "packing_strategy", "padding_free", "eos_token", "pad_token", "chat_template_path",
    "dataset_kwargs", "pad_to_multiple_of", "add_eos_token", "append_concat_token", "add_special_tokens",
}
PACKING_MODIFIERS = {"bfd": "packing_bfd", "ffd": "packing_ffd", "bfd_split": "packing_bfd_split",
                     "bfd-requeue": "packing_bfd_split", "wrapped": "packing_wrapped",
                     "constant_length": "packing_constant_length"}


class CheckError(ValueError):
    """Bad input to ``check``: one line naming the file and field (exit 2)."""


@dataclasses.dataclass
class Plan:
    """What ``check`` will run: the path, its SFTConfig options, max_length and batch modifier."""

    data_type: str
    path: str
    options: dict
    max_length: int | None
    modifier: str | None
    ignored: list[str]


def load_settings(config: str | None, sets: list[str]) -> dict:
    settings: dict = {}
    if config:
        try:
            raw = yaml.safe_load(Path(config).read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise CheckError(f"--config {config}: cannot read ({exc.strerror or exc})") from None
        except yaml.YAMLError as exc:
            raise CheckError(f"--config {config}: not YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(raw, dict):
            raise CheckError(f"--config {config}: expected a mapping of SFTConfig fields, got {type(raw).__name__}")
        settings.update(raw)
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CheckError(f"--set {item!r}: expected KEY=VALUE, e.g. --set max_length=2048")
        settings[key.strip()] = yaml.safe_load(value) if value.strip() else None
    return settings


def load_dataset_rows(source: str, split: str | None):
    """The dataset as a ``datasets.Dataset`` (memory-mapped Arrow: large files are not read into memory)."""
    import logging

    import datasets

    p = Path(source)
    datasets.disable_progress_bars()
    quiet = logging.getLogger("datasets")
    level, quiet.level = quiet.level, logging.CRITICAL  # its own error log would be a second line
    try:
        if p.is_dir():
            ds = datasets.load_from_disk(str(p))
            if isinstance(ds, datasets.DatasetDict):
                name = split or ("train" if "train" in ds else next(iter(ds)))
                if name not in ds:
                    raise CheckError(f"{source}: no split {name!r} (splits: {', '.join(ds)})")
                ds = ds[name]
            return ds
        if not p.is_file():
            raise CheckError(f"{source}: no such file or folder")
        kind = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}.get(p.suffix.lower())
        if kind is None:
            raise CheckError(f"{source}: unknown format {p.suffix!r} (JSONL, JSON, Parquet, CSV, or a save_to_disk "
                             "folder)")
        return datasets.load_dataset(kind, data_files=str(p), split=split or "train")
    except CheckError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file datasets cannot read is bad input, in one line
        while exc.__cause__ is not None or exc.__context__ is not None:  # the innermost cause says why
            exc = exc.__cause__ or exc.__context__
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise CheckError(f"{source}: cannot read it as a dataset ({type(exc).__name__}: {text})") from None
    finally:
        quiet.setLevel(level)


def detect_type(columns: list[str], first: dict, text_field: str) -> str:
    """TRL's dataset types, from the columns (and whether prompt/completion hold strings or messages)."""
    if "messages" in columns:
        return "messages"
    if "prompt" in columns and "completion" in columns:
        return "conversational_prompt_completion" if isinstance(first.get("prompt"), list) else "prompt_completion"
    if text_field in columns:
        return "text"
    raise CheckError(f"columns {', '.join(columns) or '(none)'}: not an SFT dataset (expected '{text_field}', "
                     "'messages', or 'prompt' + 'completion')")


def plan(data_type: str, settings: dict) -> Plan:
    """Path, options, max_length and modifier for these settings on the installed TRL."""
    from harness.adapters import trl_driver
    from harness.adapters.sft_trainer import packing_strategies

    fields = trl_driver.sft_config_fields() or trl_driver.trainer_init_params()
    unknown = sorted(k for k in settings if k not in fields)
    if unknown:
        import importlib.metadata as md

        raise CheckError(f"settings: {', '.join(unknown)}: not an SFTConfig field of the installed trl "
                         f"{md.version('trl')}")
    options = {k: v for k, v in settings.items() if k in DATA_FIELDS}
    ignored = sorted(k for k in settings if k not in DATA_FIELDS)
    length_key = trl_driver.length_field()
    max_length = options.pop("max_length", options.pop("max_seq_length", _default(length_key)))
    modifier = None
    if options.pop("packing", False):
        strategy = options.pop("packing_strategy", None) or _default("packing_strategy") or \
            next(iter(sorted(packing_strategies())), None)
        modifier = PACKING_MODIFIERS.get(strategy)
        if modifier is None:
            raise CheckError(f"settings: packing_strategy {strategy!r}: not one this harness lays out "
                             f"({', '.join(PACKING_MODIFIERS)})")
    elif options.pop("padding_free", False):
        modifier = "padding_free"
    options.pop("packing_strategy", None)
    if data_type == "text":
        path = "text"
        options.pop("dataset_text_field", None)  # the column is read by check itself and given to TRL as "text"
    elif data_type == "messages":
        path = "assistant_only_loss" if options.pop("assistant_only_loss", False) else "messages"
    else:
        path = data_type
    return Plan(data_type, path, options, max_length, modifier, ignored)


def _default(field_name: str):
    from harness.adapters import trl_driver

    return trl_driver.sft_config_default(field_name)


def _messages(value, where: str) -> tuple[dict, ...]:
    if not isinstance(value, list) or not value:
        raise CheckError(f"{where}: expected a non-empty list of messages, got {type(value).__name__}")
    out = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str):
            raise CheckError(f"{where}[{i}].role: expected a message with a string role")
        if m.get("content") is None and m.get("tool_calls"):
            m = {**m, "content": ""}  # an assistant turn that only calls tools
        if not isinstance(m.get("content"), str):
            raise CheckError(f"{where}[{i}].content: expected a string, got {type(m.get('content')).__name__}")
        out.append({k: v for k, v in m.items() if v is not None})
    return tuple(out)


def _template_columns(row: dict, where: str) -> dict:
    """The row's ``tools`` (a list, or its JSON text as TRL >= 0.29 accepts) and ``chat_template_kwargs``."""
    out = {}
    tools = row.get("tools")
    if isinstance(tools, str):
        try:
            tools = json.loads(tools)
        except ValueError:
            raise CheckError(f"{where}.tools: not valid JSON") from None
    if tools:
        if not isinstance(tools, list) or not all(isinstance(t, dict) for t in tools):
            raise CheckError(f"{where}.tools: expected a list of function definitions")
        out["tools"] = tuple(tools)
    kwargs = row.get("chat_template_kwargs")
    if kwargs:
        if not isinstance(kwargs, dict):
            raise CheckError(f"{where}.chat_template_kwargs: expected a mapping")
        out["chat_template_kwargs"] = {k: v for k, v in kwargs.items() if v is not None}
    return out


def _kind(messages: tuple[dict, ...], columns: dict) -> str:
    """``_tool`` / ``_reasoning`` for rows of that kind, so expectations written for the golden tool-calling and
    reasoning cases (``chat_tool*``, ``chat_reasoning_*``) recognise the same mechanism in a user's rows."""
    if columns.get("tools") or any(m["role"] == "tool" or m.get("tool_calls") for m in messages):
        return "_tool"
    if any(m.get("reasoning_content") or "</think>" in m["content"] for m in messages if m["role"] == "assistant"):
        return "_reasoning"
    return ""


ROW_PREFIX = {"messages": "chat", "conversational_prompt_completion": "conv_pc", "prompt_completion": "pc",
              "text": "text"}


def row_case(row: dict, index: int, data_type: str, text_field: str, source: str, max_length, lt=None) -> Case:
    """One dataset row as a case; malformed fields are a CheckError naming the row.

    The id's prefix is the row's data shape in the golden cases' naming (``chat_``, ``conv_pc_``,
    ``pc_``; ``chat_text_`` for a text row that is a chat-template rendering), so expectations written
    for a shape (``case: chat_*``) recognise a user's row with the same mechanism and those written
    for one golden case do not. A text row that already begins with the BOS the tokenizer adds is
    judged against that text with one BOS.
    """
    where = f"{source}: row {index}"
    prefix = ROW_PREFIX[data_type]
    if data_type == "text":
        text = row.get(text_field)
        if not isinstance(text, str):
            raise CheckError(f"{where}.{text_field}: expected a string, got {type(text).__name__}")
        rendered, reference = _chat_rendering(text, lt)
        prefix = "chat_text" if rendered else "text"
    common = {"id": f"{prefix}_row-{index}", "description": f"row {index} of {source}", "source": source,
              "max_length": max_length}
    if data_type == "text":
        return Case(prompt="", completion=text, reference_completion=reference if reference != text else None,
                    **common)
    if data_type == "prompt_completion":
        for key in ("prompt", "completion"):
            if not isinstance(row.get(key), str):
                raise CheckError(f"{where}.{key}: expected a string, got {type(row.get(key)).__name__}")
        return Case(prompt=row["prompt"], completion=row["completion"], **common)
    columns = _template_columns(row, where)
    if data_type == "conversational_prompt_completion":
        prompt = _messages(row.get("prompt"), f"{where}.prompt")
        completion = _messages(row.get("completion"), f"{where}.completion")
        common["id"] = f"{prefix}{_kind(prompt + completion, columns)}_row-{index}"
        return Case(prompt=prompt, completion=completion, **columns, **common)
    messages = _messages(row.get("messages"), f"{where}.messages")
    common["id"] = f"{prefix}{_kind(messages, columns)}_row-{index}"
    return Case(messages=messages, **columns, **common)


def _chat_rendering(text: str, lt) -> tuple[bool, str]:
    """(whether the text looks like a chat-template rendering, the text the reference is built from)."""
    if lt is None:
        return False, text
    tok = lt.tokenizer
    bos = tok.bos_token
    starts_with_bos = bool(bos) and text.startswith(bos)
    rendered = starts_with_bos or bool(lt.eot_token and lt.eot_token != tok.eos_token and lt.eot_token in text)
    if starts_with_bos:
        if "adds_bos" not in lt.memo:  # asked once per tokenizer, not per row
            ids = tok("a").input_ids
            lt.memo["adds_bos"] = bool(ids) and ids[0] == tok.bos_token_id
        if lt.memo["adds_bos"]:  # the tokenizer adds its own BOS: the reference keeps one
            text = text[len(bos):]
    return rendered, text


def sample_indices(n_rows: int, sample: int | None, seed: int) -> list[int]:
    if sample is None or sample >= n_rows:
        return list(range(n_rows))
    return sorted(random.Random(seed).sample(range(n_rows), sample))


def configured_adapter(path: str, options: dict):
    """The path's adapter with the user's SFTConfig options on top of its own."""
    import copy

    from harness import adapters

    adapter = copy.copy(adapters.get(path))
    adapter.config = {**adapter.config, **options}
    return adapter


def run_check(source: str, tokenizer: str, settings: dict, split: str | None = None, sample: int | None = 200,
              seed: int = 0, log=print) -> dict:
    """Judge the rows; returns the report (``harness/views/report.py`` format) plus a ``check`` section."""
    import time

    from conformance.rules import RULES
    from harness.pipeline import expectations
    from harness.pipeline.runner import Session, tokenizer_info
    from harness.views import report as report_mod

    text_field = settings.get("dataset_text_field") or "text"
    ds = load_dataset_rows(source, split)
    if len(ds) == 0:
        raise CheckError(f"{source}: the dataset has no rows")
    try:
        data_type = detect_type(list(ds.column_names), ds[0], text_field)
    except CheckError as exc:
        raise CheckError(f"{source}: {exc}") from None
    p = plan(data_type, settings)
    indices = sample_indices(len(ds), sample, seed)
    from harness.tokenizers import registry as tokenizer_registry

    lt = tokenizer_registry.load(tokenizer)
    cases = [row_case(ds[i], i, data_type, text_field, source, p.max_length, lt) for i in indices]
    log(f"{source}: {len(ds)} rows, {data_type} data -> path {p.path}"
        + (f", max_length {p.max_length}" if p.max_length else "") + (f", batches laid out by {p.modifier}"
                                                                       if p.modifier else "")
        + f"; judging {len(cases)} row(s){' (seeded sample, --all for every row)' if len(cases) < len(ds) else ''}")
    if p.ignored:
        log(f"settings not affecting the labels (accepted, not used): {', '.join(p.ignored)}")
    t0 = time.perf_counter()
    adapter = configured_adapter(p.path, p.options)
    session = Session(cases, {p.path: adapter})
    exps = expectations.load()
    records = session.records([tokenizer], [p.path], list(RULES.values()), exps)
    if p.modifier:
        unpacked = Session([dataclasses.replace(c, max_length=None) for c in cases], {p.path: adapter})
        records += unpacked.modifier_records([tokenizer], [p.path], exps, modifiers=[p.modifier])
    seconds = time.perf_counter() - t0
    info = {tokenizer: tokenizer_info(session, tokenizer)}
    evidence = [ev for c in cases if (ev := session.evidence(tokenizer, p.path, c)) is not None]
    rep = report_mod.build(records, info, seconds, {"tokenizers": [tokenizer], "paths": [p.path],
                                                    "rules": list(RULES), "cases": [c.id for c in cases]}, evidence)
    rep["check"] = {"source": source, "rows": len(ds), "judged": len(cases), "data_type": data_type,
                    "path": p.path, "options": p.options, "max_length": p.max_length, "modifier": p.modifier,
                    "ignored_settings": p.ignored, "seed": seed}
    rep["_session"] = session  # for printing the worst rows; removed before writing
    return rep


def worst_rows(rep: dict, k: int = 3) -> list[tuple[str, list[dict]]]:
    """The ``k`` rows with the most unexpected FAILs, with those records."""
    from harness.views.report import effective_status

    fails = defaultdict(list)
    for r in rep["records"]:
        if effective_status(r) == "fail" and r["case"] != "*":
            fails[r["case"]].append(r)
    return sorted(fails.items(), key=lambda kv: (-len(kv[1]), int(kv[0].rsplit("-", 1)[-1])))[:k]


def summary(rep: dict) -> str:
    from harness.views.report import effective_status

    by_rule: dict[str, Counter] = defaultdict(Counter)
    for r in rep["records"]:
        by_rule[r["rule"]][effective_status(r)] += 1
    cols = ("pass", "fail", "xfail", "undecidable", "not_applicable")
    names = {"xfail": "known", "not_applicable": "n/a"}
    lines = [f"{'rule':9s} " + " ".join(f"{names.get(c, c):>11s}" for c in cols)]
    for rule in sorted(by_rule):
        lines.append(f"{rule:9s} " + " ".join(f"{by_rule[rule][c]:11d}" for c in cols))
    known = sorted({r["expected_failure"] for r in rep["records"] if effective_status(r) == "xfail"})
    if known:
        lines.append("known upstream: " + "; ".join(known))
    return "\n".join(lines)


def print_result(rep: dict, colour: bool, k: int = 3, out=None) -> int:
    from harness.views import show
    from harness.views.report import effective_status

    out = out or sys.stdout
    session = rep.get("_session")
    print(summary(rep), file=out)
    worst = worst_rows(rep, k)
    for case_id, recs in worst:
        print(f"\n{case_id}: {len(recs)} unexpected FAIL(s)", file=out)
        for r in recs:
            print(f"  {r['rule']:9s} {r['message'][:300]}", file=out)
        if session is not None:
            tid, path = rep["run_info"]["selection"]["tokenizers"][0], rep["check"]["path"]
            case = next(c for c in session.cases if c.id == case_id)
            enc = session.encoding(tid, path, case_id)
            if hasattr(enc, "input_ids"):
                print(show.render(enc, colour=colour, roles=session.token_roles(tid, path, case)), file=out)
    unexpected = sum(1 for r in rep["records"] if effective_status(r) in ("fail", "xpass"))
    c = rep["check"]
    print(f"\n{c['judged']} of {c['rows']} row(s) judged on path {c['path']}: "
          + ("no unexpected FAIL" if not unexpected else f"{unexpected} unexpected FAIL verdict(s) in "
             f"{len({r['case'] for r in rep['records'] if effective_status(r) in ('fail', 'xpass')})} row(s)"),
          file=out)
    return 1 if unexpected else 0
