"""TRL releases and the throwaway uv environments that install one each.

Shared by ``sft-conformance bisect`` (which runs a standalone repro script in each environment)
and ``sft-conformance releases`` (which runs the whole suite in each). An environment gets the
CPU torch, ``trl==X`` and the companion pins of ``constraints/trl-pins.yaml`` for X; all
environments share uv's cache, so a warm one costs links, not downloads.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PINS = ROOT / "constraints" / "trl-pins.yaml"
TORCH = "torch==2.13.0"


class EnvError(RuntimeError):
    """An environment that cannot be built (no uv, a release that does not install); one line."""


def companion_pins(version: str, pins_file: Path = PINS) -> list[str]:
    """Extra requirements installed with this TRL release (first matching range wins)."""
    for entry in yaml.safe_load(pins_file.read_text(encoding="utf-8")):
        if Version(version) in SpecifierSet(entry["trl"]):
            return list(entry["with"])
    return []


def _pypi_json(url: str) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.load(resp)
    except OSError as exc:
        raise EnvError(f"cannot read {url}: {exc}") from None


def pypi_releases(package: str = "trl") -> list[str]:
    """Final, not yanked releases on PyPI, oldest first (new releases appear without a code change)."""
    data = _pypi_json(f"https://pypi.org/pypi/{package}/json")
    out = []
    for v, files in data["releases"].items():
        try:
            ver = Version(v)
        except ValueError:
            continue
        if ver.is_prerelease or ver.is_devrelease or not files or all(f.get("yanked") for f in files):
            continue
        out.append(v)
    return sorted(out, key=Version)


def _requires_dist(package: str, version: str) -> list[str]:
    """``Requires-Dist`` of a release: PyPI's per-release JSON, else the wheel's own METADATA (mirrors of
    PyPI may serve only the project JSON and the files)."""
    import io
    import urllib.parse
    import zipfile

    try:
        return _pypi_json(f"https://pypi.org/pypi/{package}/{version}/json")["info"].get("requires_dist") or []
    except EnvError:
        pass
    base = f"https://pypi.org/pypi/{package}/json"
    files = _pypi_json(base)["releases"].get(version) or []
    wheel = next((f for f in files if f["filename"].endswith(".whl")), None)
    if wheel is None:
        raise EnvError(f"{package}=={version}: no wheel to read its requirements from")
    try:
        with urllib.request.urlopen(urllib.parse.urljoin(base, wheel["url"]), timeout=60) as resp:
            archive = zipfile.ZipFile(io.BytesIO(resp.read()))
    except OSError as exc:
        raise EnvError(f"cannot download {wheel['filename']}: {exc}") from None
    meta = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
    text = archive.read(meta).decode("utf-8")
    return [line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("Requires-Dist:")]


def declared_requirement(package: str, version: str, dependency: str) -> SpecifierSet:
    """The specifier ``package==version`` declares for ``dependency`` (empty: any version)."""
    from packaging.requirements import Requirement

    for line in _requires_dist(package, version):
        req = Requirement(line)
        if req.name.lower() == dependency.lower() and (req.marker is None or req.marker.evaluate({"extra": ""})):
            return req.specifier
    return SpecifierSet()


def _requirement_name(requirement: str) -> str:
    from packaging.requirements import Requirement

    return Requirement(requirement).name.lower()


def uv() -> str:
    for candidate in (Path(sys.executable).parent / "uv", shutil.which("uv")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise EnvError("uv is not installed (pip install uv); release environments are built with it")


def env_name(version: str, extra: tuple[str, ...] = ()) -> str:
    tag = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in "+".join(extra))
    return f"trl-{version}" + (f"-{tag}" if tag else "")


def requirements(version: str, extra: tuple[str, ...] = (), harness: bool = False) -> list[str]:
    """What an environment for ``trl==version`` installs; an ``extra`` requirement (the transformers
    axis) replaces the companion pin of the same library."""
    held = {_requirement_name(r) for r in extra}
    reqs = [TORCH, f"trl=={version}", *(p for p in companion_pins(version) if _requirement_name(p) not in held), *extra]
    return reqs + (["-e", f"{ROOT}[provision]"] if harness else [])


def build_env(env: Path, version: str, extra: tuple[str, ...] = (), harness: bool = False) -> tuple[Path, float]:
    """(python, seconds): the environment at ``env`` with trl==version, reused when it exists.

    ``harness``: also install this repository (editable, with the ``provision`` extra) so that
    ``python -m harness.cli`` runs there. A failed install removes the half-built folder and raises
    ``EnvError`` with uv's last lines.
    """
    python = env / "bin" / "python"
    t0 = time.perf_counter()
    marker = env / ".sft-conformance-complete"
    reqs = requirements(version, extra, harness)
    # reused only when built with the same requirements: an env whose editable harness points at another
    # checkout (a moved or deleted clone) would import that one, or nothing
    if python.exists() and marker.exists() and marker.read_text(encoding="utf-8").split() == reqs:
        return python, 0.0
    shutil.rmtree(env, ignore_errors=True)
    tool = uv()
    links = os.environ.get("UV_FIND_LINKS") or os.environ.get("PIP_FIND_LINKS", "")
    try:
        subprocess.run([tool, "venv", "-q", "-p", sys.executable, str(env)], check=True, capture_output=True,
                       text=True)
        subprocess.run([tool, "pip", "install", "-q", "--python", str(python), *reqs], check=True,
                       capture_output=True, text=True, env={**os.environ, "UV_FIND_LINKS": links})
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(env, ignore_errors=True)
        lines = [ln.strip() for ln in (exc.stderr or "").splitlines() if ln.strip()]
        raise EnvError(f"trl=={version}: uv could not install {' '.join(reqs)}: "
                       f"{' | '.join(lines[-3:])[-400:]}") from None
    marker.write_text(" ".join(reqs) + "\n", encoding="utf-8")
    return python, time.perf_counter() - t0


def run_env(**extra: str) -> dict[str, str]:
    """The process environment for running code in a release environment: offline, and writing bytecode.

    ``PYTHONDONTWRITEBYTECODE`` is emptied (an empty value lets Python write ``.pyc`` files): uv installs
    without compiling, so with it set, as many CI images and containers do, every run in
    an environment compiled torch, transformers and TRL again in each process. The environment is a
    throwaway of ours; its first run writes the bytecode and later runs read it (``run`` on 1.16.0 with
    2 workers, warm environment: 53.5-59.1 s compiling, 44.0-46.1 s reading).
    """
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "PYTHONDONTWRITEBYTECODE": "", **extra}


def disk_usage(folder: Path) -> int:
    """Bytes used by the files under ``folder``, each hard-linked file counted once (uv links from its cache)."""
    seen, total = set(), 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total
