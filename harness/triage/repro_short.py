"""``sft-conformance repro --short``: one finding as a script short enough to paste into an upstream issue.

The long form (``harness/triage/repro.py``) embeds the suite's TRL driver and rules engine; this one
holds only the example rows, the oracle's expected ``input_ids`` and labels (computed without TRL)
and what the rule checks among them, then runs TRL's own preparation and collator for the path
(``repro_snippets.short_snippet``) and prints every token with its expected and actual label.

What the rule checks is derived from the suite's rules engine, not restated: starting from the
expected row (which the rule passes), each expected token's label is flipped and each token removed
in turn, and a token is checked where that makes the rule fail; one more token at the head (a second
first token) or the tail (the generation prompt) is probed the same way. The script's verdict is then
a comparison of those tokens with TRL's. Exit 0 the property holds, 1 violated, 2 not applicable
(no such path in this TRL, a loss scope the rule does not judge, a row TRL removed), 3 TRL raised.

The tokenizer is loaded from the Hub id of the model the catalog tokenizer stands for (``hub_id`` in
``harness/tokenizers/catalog.yaml``); a tokenizer without one (synthetic, a local folder) is written
beside the script, as the long form does. ``TOKENIZER=folder`` or the first argument overrides it,
and the script warns when the expected ids are other tokens, or the template another, than the
suite's (a borrowed catalog vocabulary differs from its Hub model's: use the provisioned folder).
"""

from __future__ import annotations

from pathlib import Path

from conformance.rules.base import Context, expected_trained
from conformance.rules.data import FAIL, IGNORE_INDEX, PASS, Row
from harness.adapters import repro_snippets, trl_driver
from harness.triage import repro
from harness.triage.repro import Finding, FindingError

MAX_LINES = 60
# The loss scopes a path may train at run time ("completion?" is decided by the installed TRL).
RUNTIME_SCOPES = {"completion?": ("full", "completion")}

# What the expected ids mean to a tokenizer (their token strings) and its chat template, hashed: the script
# evaluates this expression on the tokenizer it loads, the generator on the suite's (one text for both).
TOKENIZER_CHECK = ("hashlib.sha256(json.dumps([tok.convert_ids_to_tokens(EXPECTED_IDS), tok.chat_template])"
                   ".encode()).hexdigest()[:16]")

HEAD = '''import difflib, hashlib, json, os, sys, trl
from transformers import AutoTokenizer

'''

NOT_APPLICABLE = '''

def not_applicable(why):
    sys.exit(print(f"NOT APPLICABLE: {why}") or 2)
'''

MAIN = '''

tok, template_file = AutoTokenizer.from_pretrained(TOKENIZER), os.path.join(TOKENIZER, "chat_template.jinja")
own = tok.chat_template = tok.chat_template or (open(template_file, encoding="utf-8").read() if os.path.isfile(template_file) else None)  # transformers < 4.47 reads only tokenizer_config.json
if CHECK_EXPRESSION != TOKENIZER_CHECK:
    print(f"WARNING: {TOKENIZER} is not the tokenizer the suite used (other tokens for the expected ids, or another chat template): the expected labels below do not apply to it")
print(f"{RULE} ({RULE_TITLE}) on TRL {trl.__version__}, path {PATH}, tokenizer {TOKENIZER}\\nupstream: {UPSTREAM}")
try:
    batch, scope = build(tok)
except Exception as exc:  # TRL refused the input: an explicit error, not the silent bug checked here
    sys.exit(print(f"TRL RAISED {type(exc).__name__}: {str(exc).strip()[:300]}") or 3)
print("chat template TRL used:", "none" if not (used := tok.chat_template or "") else "the tokenizer's own" if used == own else "set by TRL", f"(sha256 {hashlib.sha256(used.encode()).hexdigest()[:12]}, first line {used.strip()[:50]!r})")
want = EXPECTED.get(scope, f"{RULE} does not judge loss scope {scope!r}")
if isinstance(want, str):
    not_applicable(want)
ids, labels, att = (batch.get(k, batch["input_ids"] * 0 + d)[0].tolist() for k, d in (("input_ids", 0), ("labels", -100), ("attention_mask", 1)))
real = [p for p, a in enumerate(att) if a]
ref = {real[a + i]: b + i for a, b, n in difflib.SequenceMatcher(a=[ids[p] for p in real], b=EXPECTED_IDS, autojunk=False).get_matching_blocks() for i in range(n)}
missing, ends, bad = [k for k in range(len(EXPECTED_IDS)) if k not in ref.values()], (min(ref, default=-1), max(ref, default=-1)), []
print(f"{'pos':>4}  {'token':24} expected  actual  (-100: not trained; *: checked by {RULE}{'; so is any extra token at the ' + ' and '.join(want['no_extra']) if want['no_extra'] else ''})")
for p, k in [(p, ref.get(p)) for p in real] + [(None, k) for k in missing]:
    e, a = ("extra" if k is None else want["labels"][k]), ("missing" if p is None else labels[p])
    hit = k in want["present"] + want["labels_checked"] if k is not None else (p < ends[0] and "head" in want["no_extra"]) or (p > ends[1] and "tail" in want["no_extra"])
    bad += [k] if hit and e != a and (p is not None or k in want["present"]) else []
    print(f"{'-' if p is None else p:>4}  {tok.decode([ids[p] if k is None or p is not None else EXPECTED_IDS[k]])!r:24} {e!s:>8}  {a!s:>6} {'*' if hit else ' '}{'  <-- differs' if e != a else ''}")
print(f"{RULE}: {'VIOLATED' if bad else 'holds'} ({len(bad)} checked token(s) differ)")
sys.exit(1 if bad else 0)
'''.replace("CHECK_EXPRESSION", TOKENIZER_CHECK)


def _judge(rule, ref, scope: str, path: str, tok, ids: list[int], labels: list[int]) -> str:
    """The rule's verdict on a row of these ids and labels (no padding)."""
    row = Row(list(ids), list(labels), [1] * len(ids), scope, path, [], tok.pad_token_id, tok.eos_token_id)
    return rule(Context(row, ref, decode=tok.decode)).status


def _flip(labels: list[int], ids: list[int], k: int) -> list[int]:
    return [(IGNORE_INDEX if lab != IGNORE_INDEX else ids[k]) if i == k else lab for i, lab in enumerate(labels)]


def expectation(rule, ref, scope: str, path: str, tok) -> dict | str:
    """What the script compares under one loss scope, or why the rule is not applicable there.

    ``labels``: the expected label of every expected token; ``labels_checked``: tokens whose label
    the rule judges; ``present``: tokens whose absence it judges; ``no_extra``: the ends (head, tail)
    where one more token makes it fail.
    """
    ids = ref.ids
    trained = set(expected_trained(ref, scope))
    labels = [t if i in trained else IGNORE_INDEX for i, t in enumerate(ids)]
    judge = lambda i, lab: _judge(rule, ref, scope, path, tok, i, lab)
    status = judge(ids, labels)
    if status != PASS:
        return f"{rule.id} is {status} on the expected row under loss scope {scope!r}"
    head = [ids[0]] + ids if ids else []
    tail = ids + tok.encode(ref.generation_prompt or tok.eos_token or "", add_special_tokens=False)
    return {
        "labels": labels,
        "labels_checked": [k for k in range(len(ids)) if judge(ids, _flip(labels, ids, k)) == FAIL],
        "present": [k for k in range(len(ids)) if judge(ids[:k] + ids[k + 1:], labels[:k] + labels[k + 1:]) == FAIL],
        "no_extra": [end for end, (i, lab) in {"head": (head, [IGNORE_INDEX] + labels),
                                              "tail": (tail, labels + [IGNORE_INDEX] * (len(tail) - len(ids)))}.items()
                     if judge(i, lab) == FAIL],
    }


def _tokenizer_source(lt, out_dir: Path) -> tuple[str, str]:
    """(the script's default TOKENIZER expression, how it was chosen): the catalog entry's Hub id, a Hub id given
    as the tokenizer, or a folder written beside the script."""
    from harness.tokenizers import provision

    entry = next((e for e in provision.catalog() if e.id == lt.id), None)
    if entry is not None:
        return repr(entry.hub_id), f"Hub id of {lt.id}; TOKENIZER=<provisioned folder> for the suite's exact files"
    if "/" in lt.id and not Path(lt.id).exists():
        return repr(lt.id), "Hub id"
    folder = repro.write_tokenizer(lt, repro.tokenizer_folder(lt, out_dir))
    return (f"os.path.join(os.path.dirname(os.path.abspath(__file__)), {folder.name!r})",
            f"{lt.id} has no Hub id: its files are in {folder.name}/ beside this script")


def _tokenizer_check(tok, ids: list[int]) -> str:
    """The script's ``TOKENIZER_CHECK`` expression evaluated here, on the suite's tokenizer (one source for both)."""
    import hashlib
    import json

    return eval(TOKENIZER_CHECK, {"hashlib": hashlib, "json": json, "EXPECTED_IDS": ids, "tok": tok})


def generate(finding: Finding, out_dir: Path, cases_dir: Path | None = None, reference: str = "") -> Path:
    """Write ``<out_dir>/<slug>_short.py`` (and a tokenizer folder only when there is no Hub id); return its path."""
    from harness.adapters.versions import library_versions

    if finding.rule.startswith(("DROP-", "MOD-")):
        raise FindingError(f"finding {finding}: {finding.rule} judges removed rows or packed batches, not one row's "
                           "labels; use the long form: sft-conformance repro FINDING")
    rule, adapter, lt, case = repro.resolve(finding, cases_dir)
    ref = repro.oracle_reference(adapter, case, lt)
    scope = repro_snippets.SCOPES[finding.path]
    expected = {s: expectation(rule, ref, s, finding.path, lt.tokenizer) for s in RUNTIME_SCOPES.get(scope, (scope,))}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    default, how = _tokenizer_source(lt, out_dir)
    versions = library_versions()
    doc = (f'"""{finding.rule} ({rule.title}): TRL path {finding.path}, case {case.id}, tokenizer {lt.id}. Expected ids and labels:\n'
           f"sft-conformance's oracle (no TRL; trl {versions['trl']}, transformers {versions['transformers']}). "
           f"Usage: python {finding.slug}_short.py [TOKENIZER folder or Hub id]\n"
           'Exit 0: the property holds, 1: violated, 2: not applicable to this TRL, 3: TRL raised an error."""\n')
    clock = _prints_date(lt.tokenizer)
    parts = [
        "#!/usr/bin/env python3\n", doc, HEAD,
        f"TOKENIZER = sys.argv[1] if len(sys.argv) > 1 else os.environ.get(\"TOKENIZER\") or {default}  # {how}\n",
        f"TOKENIZER_CHECK = {_tokenizer_check(lt.tokenizer, ref.ids)!r}  # the suite's tokenizer, hashed as below\n",
        f"RULE, RULE_TITLE, PATH, SCOPE, UPSTREAM = {(finding.rule, rule.title, finding.path, scope, reference or 'not catalogued')!r}\n",
        (f"OPTIONS, REQUIRED_FIELDS, MAX_LENGTH, ADD_SPECIAL_TOKENS, MODEL_COLUMNS = "
         f"{(dict(getattr(adapter, 'config', {})), list(getattr(adapter, 'required_fields', ())), case.max_length, case.shape != 'conversation', trl_driver.MODEL_COLUMNS)!r}\n"),
        f"ROWS = {repro.rows_for(adapter, case, lt)!r}  # the example, then a longer row it is padded against\n",
        f"EXPECTED_IDS = {ref.ids!r}\n",
        f"EXPECTED = {expected!r}  # per loss scope: labels, and the tokens {finding.rule} checks\n",
        NOT_APPLICABLE, repro_snippets.short_snippet(finding.path), repro.FROZEN_CLOCK if clock else "",
        MAIN.replace("\ntry:\n", "\nfrozen_template_clock()\ntry:\n", 1) if clock else MAIN,
    ]
    script = out_dir / f"{finding.slug}_short.py"
    script.write_text("".join(parts), encoding="utf-8")
    return script


def _prints_date(tok) -> bool:
    """A template that prints today's date needs the long form's frozen clock to render the expected ids."""
    return isinstance(tok.chat_template, str) and "strftime_now" in tok.chat_template


def non_empty_lines(script: Path) -> int:
    return sum(1 for line in script.read_text(encoding="utf-8").splitlines() if line.strip())
