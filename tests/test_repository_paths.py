"""The repository is self-contained: no tracked file points at a machine path or outside the repo."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# an absolute path of this kind of machine, or a relative path that climbs out of the repository
FORBIDDEN = re.compile(r"(?<![\w.])(/work/|/root/|/home/\w+/|/tmp/sft|\.\./shared|\.\./\.\./)")


def test_no_tracked_file_points_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    hits = []
    for name in files:
        path = ROOT / name
        if path.suffix in (".png", ".txt") or not path.is_file():
            continue  # snapshots (.txt) hold token text, not paths
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line) and "FORBIDDEN" not in line:
                hits.append(f"{name}:{n}: {line.strip()[:120]}")
    assert not hits, "paths outside the repository:\n" + "\n".join(hits[:20])
