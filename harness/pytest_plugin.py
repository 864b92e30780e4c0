"""pytest plugin (entry point ``pytest11``): check your own data, tokenizer and SFT settings in your tests.

    # tests/test_sft_labels.py in your repository
    def test_trl_builds_the_right_labels(sft_check):
        result = sft_check("data/train.jsonl", tokenizer="./my-tokenizer",
                           settings={"max_length": 2048, "assistant_only_loss": True})
        assert result.ok, result.summary

``sft_check`` runs ``sft-conformance check`` in process (same verdicts, expectations and report);
``result.unexpected`` lists the FAIL records no expectation covers, ``result.report`` is the JSON
report, and ``report=PATH`` / ``html=PATH`` write it and the label report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass
class CheckResult:
    report: dict
    summary: str

    @property
    def unexpected(self) -> list[dict]:
        from harness.views.report import effective_status

        return [r for r in self.report["records"] if effective_status(r) in ("fail", "xpass")]

    @property
    def ok(self) -> bool:
        return not self.unexpected


def run(data: str, tokenizer: str, settings: dict | None = None, sample: int | None = 200, seed: int = 0,
        split: str | None = None, report: str | None = None, html: str | None = None) -> CheckResult:
    import io

    from harness import check
    from harness.views import report as report_mod

    rep = check.run_check(str(data), str(tokenizer), dict(settings or {}), split=split, sample=sample, seed=seed,
                          log=lambda line: None)
    text = io.StringIO()
    check.print_result(rep, colour=False, out=text)
    rep.pop("_session", None)
    if report:
        report_mod.write(rep, Path(report))
    if html:
        from harness.views import html_report

        html_report.write([rep], Path(html))
    return CheckResult(rep, text.getvalue())


@pytest.fixture
def sft_check():
    """A function ``(data, tokenizer, settings=None, sample=200, seed=0, split=None, report=None, html=None)``
    returning a ``CheckResult`` (``.ok``, ``.unexpected``, ``.summary``, ``.report``)."""
    return run
