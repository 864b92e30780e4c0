"""Run scripts in forks of an interpreter that has already imported torch, transformers, datasets and TRL.

Started by ``tests/script_runs.py`` as ``PYTHON preloaded_python.py`` in a release environment, with the
environment every repro script run gets. It imports the libraries the scripts import, down to the classes they use (about 8 of the 9
CPU seconds a repro script takes), then serves one request per line on stdin:
``{"script": ..., "args": [...], "cwd": ..., "out": ..., "err": ...}``. For each it forks; the child
becomes what ``PYTHON script args`` would be (``sys.argv``, ``sys.path[0]``, working directory, stdin from
/dev/null, stdout and stderr to the named files, the script run as ``__main__``) and its exit status is
the one the interpreter would give: ``sys.exit``'s code, 1 after an uncaught exception (traceback on
stderr). The answer is one line on stdout: ``{"returncode": N}``. A child running longer than
``timeout`` seconds is killed (returncode -9). Standard library only: it runs in any release env.

A request may name ``"module"`` (``PYTHON -m module args``: ``sys.path[0]`` is the working directory) or
``"code"`` (``PYTHON -c code args``: ``sys.path[0]`` is ``''``, a fresh ``__main__`` module) instead of
``"script"``, and carry ``"env"``, the whole environment the command would get, and ``"pythonpath"``, the
folders its ``PYTHONPATH`` names, which the child makes absolute and puts right after ``sys.path[0]`` as the
interpreter would. What is read only when the interpreter starts (``PYTHONHASHSEED``, ``-X`` options, the
other ``PYTHON*`` settings) or when the preloaded libraries are imported (``HF_*``, ``TRANSFORMERS_*``,
``TOKENIZERS_*``, ``TORCH*``) is this interpreter's: ``tests/script_runs.py`` runs a command whose values
differ in a new interpreter instead. A ``-m`` traceback leaves out the two runpy frames a new interpreter
shows; it ends the same.
"""

import contextlib
import json
import os
import signal
import sys
import time
import traceback

# What the scripts import, down to the classes they use: ``import trl`` and ``import transformers`` are lazy, and
# the trainer's modules (transformers' Trainer, accelerate, TRL's SFT modules) took about 3 of a script's 9 s after
# the four packages were imported.
PRELOAD = {
    "torch": (),
    "datasets": ("Dataset",),
    "transformers": ("AutoTokenizer", "LlamaConfig", "LlamaForCausalLM", "TrainingArguments", "Trainer"),
    "trl": ("SFTConfig", "SFTTrainer"),
    "trl.trainer.utils": (),
}


def preload() -> None:
    import importlib

    for module, names in PRELOAD.items():
        with contextlib.suppress(Exception):  # a library that fails here fails in the script, which reports it
            loaded = importlib.import_module(module)
            for name in names:
                getattr(loaded, name, None)


def child(request: dict) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    for fd, path in ((1, request["out"]), (2, request["err"])):
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(handle, fd)
        os.close(handle)
    code, own = 1, None
    try:
        os.chdir(request["cwd"])
        if "env" in request:
            os.environ.clear()
            os.environ.update(request["env"])
        run, own = _command(request)
        # what PYTHONPATH names comes right after sys.path[0], each entry made absolute (an empty one is the cwd)
        sys.path[1:1] = [os.path.abspath(p) for p in request.get("pythonpath", [])]
        run()
        code = 0
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:  # noqa: BLE001 - as the interpreter does: traceback from the command, exit 1
        tb = exc.__traceback__
        while tb is not None and (tb.tb_frame.f_code.co_filename != own if own else
                                  _launcher_frame(tb.tb_frame.f_code.co_filename)):
            tb = tb.tb_next  # this file's and runpy's frames
        traceback.print_exception(type(exc), exc, tb)
        code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code & 0xFF)


def _command(request: dict):
    """``sys.argv`` and ``sys.path[0]`` as the interpreter sets them for this form, and the call that runs it
    as ``__main__``, with the file name its traceback starts at (None: after this file's and runpy's frames)."""
    import runpy

    if "module" in request:  # runpy puts the module's file first in sys.argv and installs it as __main__
        sys.argv = [request["module"], *request["args"]]
        sys.path[0] = os.getcwd()
        return (lambda: runpy.run_module(request["module"], run_name="__main__", alter_sys=True)), None
    if "code" in request:
        import types

        sys.argv = ["-c", *request["args"]]
        sys.path[0] = ""
        main = types.ModuleType("__main__")  # a real __main__ module, as ``-c`` has (no __file__, __spec__ None)
        main.__dict__.update({"__spec__": None, "__loader__": None, "__builtins__": __builtins__})
        sys.modules["__main__"] = main
        compiled = compile(request["code"], "<string>", "exec")
        return (lambda: exec(compiled, main.__dict__)), "<string>"  # noqa: S102 - ``python -c``
    script = os.path.abspath(request["script"])
    sys.argv = [script, *request["args"]]
    sys.path[0] = os.path.dirname(script)
    return (lambda: runpy.run_path(script, run_name="__main__")), script


def _launcher_frame(filename: str) -> bool:
    """A frame of this file or of runpy (``-m``'s traceback starts at the module)."""
    import runpy

    return filename.startswith("<frozen runpy") or filename in (__file__, runpy.__file__)


def serve(timeout: float) -> None:
    answers = os.fdopen(os.dup(1), "w")
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            child(request)
        deadline = time.monotonic() + timeout
        status = None
        while status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                status = os.waitpid(pid, 0)[1]
            else:
                time.sleep(0.02)
        code = os.waitstatus_to_exitcode(status)
        answers.write(json.dumps({"returncode": code}) + "\n")
        answers.flush()


if __name__ == "__main__":
    preload()
    serve(float(sys.argv[1]) if len(sys.argv) > 1 else 600.0)
