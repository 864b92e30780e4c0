"""Versioned JSON run reports and the summary table printed after a run."""

from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter, defaultdict
from pathlib import Path

from harness.adapters.versions import library_versions
from harness.pipeline.runner import EncodedItems, EncodedRecords, Record, effective_status

SCHEMA_VERSION = 1
STATUS_ORDER = ("pass", "fail", "xfail", "undecidable", "not_applicable")
__all__ = ["EncodedItems", "EncodedRecords", "build", "decoded", "effective_status", "load", "summary_table", "tally", "write"]


def build(records: list[Record] | EncodedRecords, tokenizers: dict[str, dict], seconds: float, selection: dict,
          evidence: list[dict] | EncodedItems | None = None) -> dict:
    """The report: schema version, run info (every library version, tokenizer hashes), one record per
    verdict, and the evidence (tensors, tokens, roles) the HTML label report draws. Records and evidence
    already encoded (``run``'s, encoded where they were judged) stay so until ``write``; see ``decoded``."""
    rows = records if isinstance(records, EncodedRecords) else [r.to_dict() for r in records]
    summary: Counter = Counter()
    for (_tokenizer, _path, _rule, status), n in _tally(rows).items():
        summary[status] += n
    return {
        "schema_version": SCHEMA_VERSION,
        "run_info": {
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "libraries": library_versions(),
            "tokenizers": tokenizers,
            "selection": selection,
            "seconds": round(seconds, 2),
        },
        "summary": dict(summary),
        "records": rows,
        "evidence": evidence or [],
    }


def write(report: dict, path: Path) -> Path:
    """Write atomically (a temporary file renamed into place): a killed run never leaves half a report.
    Compact JSON: the C encoder, 10x faster than an indented dump of 100,000 records. Encoded records are
    written as they are, byte for byte what ``json.dumps`` writes for their dicts."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as out:
        for i, (key, value) in enumerate(report.items()):
            out.write(("{" if i == 0 else ",").encode() + _json(key) + b":")
            if isinstance(value, EncodedItems):
                out.write(b"[")
                out.writelines(piece for k, chunk in enumerate(value.chunks) for piece in ((b",", chunk) if k else (chunk,)))
                out.write(b"]")
            else:
                out.write(_json(value))
        out.write(b"}\n" if report else b"{}\n")
    os.replace(tmp, path)
    return path


def _json(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def decoded(report: dict) -> dict:
    """The report with its records and evidence as dicts, as ``load`` reads it back (for the views that read them)."""
    return {k: v.decoded() if isinstance(v, EncodedItems) else v for k, v in report.items()}


def tally(report: dict) -> Counter:
    """Records counted by (tokenizer, path, rule, effective status), in the order they first appear."""
    return _tally(report["records"])


def _tally(rows: list[dict] | EncodedRecords) -> Counter:
    if isinstance(rows, EncodedRecords):
        return rows.tally
    return Counter((r["tokenizer"], r["path"], r["rule"], effective_status(r)) for r in rows)


class ReportError(ValueError):
    """A report file that is missing, not JSON, or of another schema version; names the file."""


def load(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such report file") from None
    except OSError as exc:  # a folder, no permission: one line, as for the other readers' bad input
        raise ReportError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ReportError(f"{path}: not a JSON report ({exc})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a JSON report (a {type(data).__name__}, not an object)")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise ReportError(f"{path}: schema_version {data.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return data


def summary_table(report: dict) -> str:
    """Tokenizer x path table of verdict counts, then the failing (tokenizer, path, rule) triples."""
    counted = tally(report)
    cells: dict[tuple[str, str], Counter] = defaultdict(Counter)
    counts: Counter = Counter()
    fails: Counter = Counter()
    for (tokenizer, path, rule, status), n in counted.items():
        cells[(tokenizer, path)][status] += n
        counts[status] += n
        if status in ("fail", "xpass"):
            fails[(rule, tokenizer, path)] += n
    tokenizers = list(dict.fromkeys(t for t, _, _, _ in counted))
    paths = list(dict.fromkeys(p for _, p, _, _ in counted))

    def cell(c: Counter) -> str:
        if not c:
            return "-"
        if c["pass"] == 0 and c["fail"] == 0 and c["xfail"] == 0:
            return "n/a"
        s = f"{c['pass']}✓"
        if c["fail"]:
            s += f" {c['fail']}✗"
        if c["xfail"]:
            s += f" {c['xfail']}x"
        if c["xpass"]:
            s += f" {c['xpass']}XPASS"
        return s

    w0 = max(len("tokenizer"), *(len(t) for t in tokenizers))
    widths = [max(len(p), 12) for p in paths]
    lines = ["  ".join(["tokenizer".ljust(w0)] + [p.ljust(w) for p, w in zip(paths, widths)])]
    for t in tokenizers:
        lines.append("  ".join([t.ljust(w0)] + [cell(cells[(t, p)]).ljust(w) for p, w in zip(paths, widths)]))
    lines.append("")
    lines.append("verdicts: " + ", ".join(f"{k} {counts[k]}" for k in (*STATUS_ORDER, "xpass") if counts[k]))
    if fails:
        lines.append("")
        lines.append("failures (rule, tokenizer, path: cases):")
        for (rule, tok, path), n in sorted(fails.items()):
            lines.append(f"  {rule:9s} {tok} {path}: {n}")
    return "\n".join(lines)
