"""The label report: structure from the renderer, and what a real browser draws.

The browser test renders the page with headless Chromium (Debian package ``chromium``), reads
the DOM it built and a screenshot, and asserts the chips and the matrix are there and coloured.
CI installs Chromium and sets ``SFT_CONFORMANCE_REQUIRE_BROWSER=1`` so its absence fails there.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import struct
import subprocess
import zlib

import pytest

from harness.cli import main
from harness.views import html_report, report

TRAINED_RGB = (0xB7, 0xE4, 0xB7)
MASKED_RGB = (0xF3, 0xC4, 0xC4)


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> list[dict]:
    """A real run on the newest TRL, and the same run relabelled as an older line with one more failure."""
    out = tmp_path_factory.mktemp("labels") / "new.json"
    main(["run", "--tokenizer", "synthetic-chatml", "--path", "text,chatml_collator",
          "--case", "chat_single_turn,pc_plain", "--report", str(out)])
    new = report.load(out)
    old = copy.deepcopy(new)
    old["run_info"]["libraries"]["trl"] = "0.12.2"
    for rec in old["records"]:
        if rec["rule"] == "GEN-001" and rec["path"] == "chatml_collator":
            rec.update(status="fail", message="seeded for the test", positions=[0, 1], expected_failure=None)
    return [old, new]


def test_chips_carry_label_role_and_hover(reports):
    page = html_report.render(reports[1:], all_cases=True)
    assert page.count('class="chip ') > 20
    assert 'class="chip trained role-content' in page and 'class="chip masked' in page
    assert "title=\"pos 0 · id" in page, "hover text names position, id, label and role"
    assert "<script" not in page and "http" not in page.replace("http-equiv", ""), "no network assets, no scripts"


def test_two_versions_side_by_side_with_linked_matrix(reports):
    page = html_report.render(reports)
    assert "id='matrix'" in page and "trl 0.12.2" in page and "trl 1.16.0" in page
    anchor = html_report._anchor("e", "synthetic-chatml", "chatml_collator", "chat_single_turn")
    assert f"id='{anchor}'" in page, "the finding's case has an evidence section"
    assert "href='#f-GEN_001-chatml_collator'" in page, "the failing matrix cell links to the finding"
    section = page[page.index(f"id='{anchor}'"):]
    assert section.count("class='version'") >= 2, "one column per TRL version"


def test_one_finding_only(reports):
    page = html_report.render(reports, finding="GEN-001:synthetic-chatml:chatml_collator:chat_single_turn")
    assert page.count("<section") == 1


def _png_pixels(data: bytes) -> set[tuple[int, int, int]]:
    """Distinct RGB colours of an 8-bit RGB/RGBA PNG (what Chromium writes), decoded with zlib."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, prev, colours = zlib.decompress(idat), width * channels, bytearray(width * channels), set()
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = prev[i], prev[i - channels] if i >= channels else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(tuple(line[x:x + 3]) for x in range(0, stride, channels))
        prev = line
    return colours


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_real_browser_draws_coloured_chips_and_table(reports, tmp_path):
    browser = _chromium()
    if browser is None:
        if os.environ.get("SFT_CONFORMANCE_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    page = html_report.write(reports, tmp_path / "labels.html")
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,900",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], check=True, capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count('class="chip trained') > 5 and 'id="matrix"' in dom and 'id="findings"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", page.as_uri()], check=True, capture_output=True, timeout=120)
    colours = _png_pixels(shot.read_bytes())
    assert TRAINED_RGB in colours, "no trained-green chip was painted"
    assert MASKED_RGB in colours, "no masked-red chip was painted"


def test_html_command_writes_one_file(reports, tmp_path):
    paths = []
    for k, rep in enumerate(reports):
        paths.append(tmp_path / f"r{k}.json")
        paths[-1].write_text(json.dumps(rep), encoding="utf-8")
    out = tmp_path / "labels.html"
    assert main(["html", str(paths[0]), str(paths[1]), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
