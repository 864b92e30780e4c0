"""Repository-wide pytest setup: hypothesis profiles, chosen with HYPOTHESIS_PROFILE.

dev (default, fast), ci (what .ci/run uses), nightly (many examples, the GPU job). Examples are
derandomized in ci so a CI run is reproducible; nightly explores new inputs every night.
"""

import gc
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from harness.pipeline.allocator import keep_freed_memory

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large]}
settings.register_profile("dev", max_examples=8, **_COMMON)
settings.register_profile("ci", max_examples=20, derandomize=True, print_blob=True, **_COMMON)
settings.register_profile("nightly", max_examples=300, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


keep_freed_memory()  # this repository's test process (harness/pipeline/allocator.py)
# Collecting imports the libraries and builds the items: objects that stay for the whole session. The collector's
# full passes would walk them again and again while they pile up; it is off until they are frozen
# (``pytest_collection_finish``, harness/pipeline/long_lived.py).
gc.disable()

_AHEAD = pytest.StashKey[object]()


@pytest.fixture(scope="session")
def conformance_session(request):
    """One Session (tokenizers, TRL encodings, oracles) shared by tests/ and conformance/; its encodings are
    computed ahead on the spare cores where the collected items need many (``start_session_ahead``)."""
    from harness.pipeline.runner import Session

    return Session(ahead=request.config.stash.get(_AHEAD, None))


def pytest_sessionstart(session):
    """The README's run (no arguments: every test path, no ``-k`` or ``-m`` selection) starts the preloaded
    interpreters that the repro scripts fork from (``tests/script_runs.py``) before collecting: collection keeps
    one core busy for about 20 s, and their imports take the other."""
    config = session.config
    if (config.args_source is not pytest.Config.ArgsSource.TESTPATHS or config.getoption("collectonly")
            or config.getoption("keyword") or config.getoption("markexpr")):
        return
    sys.path.insert(0, str(Path(__file__).parent / "tests"))  # where pytest imports the test modules from
    import script_runs
    from test_repro_short import interpreters

    for python in sorted(interpreters()):
        script_runs.warm(python)


def pytest_collection_finish(session):
    """What collection loaded (the libraries, the cases, the items) stays for the whole session: out of the
    collector's full passes with it (harness/pipeline/long_lived.py)."""
    from harness.pipeline.long_lived import keep_out_of_full_collections

    gc.enable()
    keep_out_of_full_collections()


def pytest_collection_modifyitems(config, items):
    start_background_runs(config, items)
    if not config.getoption("collectonly"):
        start_session_ahead(config, items)


def start_session_ahead(config, items) -> None:
    """The encodings and packed batches the selected items will ask the shared session for are computed on
    the spare cores (``fanout.Ahead``, worker processes running the same code), from the last item's back,
    while this process runs the tests in order; a unit this process reaches first it computes itself.
    A module says what an item needs with ``session_needs(name, params)`` (the test function's name and its
    parameters): encodings and batches, and the session's ``COMPUTED`` units (training checks, batches at
    scale), which the workers take on last. On by default; ``SFT_CONFORMANCE_AHEAD=0`` turns it off
    (docs/suite.md has the measurements either way)."""
    if os.environ.get("SFT_CONFORMANCE_AHEAD", "1") == "0":
        return
    from harness.pipeline import fanout, runner

    needs = []
    for item in items:
        declare = getattr(getattr(item, "module", None), "session_needs", None)
        if declare is not None:
            needs.extend(declare(item.originalname, getattr(getattr(item, "callspec", None), "params", {})))
    ahead = runner.ahead_of(needs, fanout.default_jobs() - 1)
    if ahead is not None:
        config.stash[_AHEAD] = ahead
        config.add_cleanup(ahead.close)


def start_background_runs(config, items) -> None:
    """Tests that wait on subprocesses run last; their subprocesses start now on the spare core
    (``tests/script_runs.py``): first the commands of modules with ``background_commands(test_names)``, then the repro
    scripts."""
    commanding = [it for it in items if hasattr(getattr(it, "module", None), "background_commands")]
    scripted = [it for it in items
                if getattr(getattr(it, "module", None), "__name__", "").endswith(("test_repro", "test_repro_short"))
                and ("bug" in getattr(getattr(it, "callspec", None), "params", {})
                     or it.originalname.startswith("test_a_repro_script_runs_standalone"))]
    if not (commanding or scripted):
        return
    moved = set(commanding) | set(scripted)
    items[:] = [it for it in items if it not in moved] + commanding + scripted
    if config.getoption("collectonly"):
        return
    import script_runs

    for module in dict.fromkeys(it.module for it in commanding):
        for command in module.background_commands({it.originalname for it in commanding if it.module is module}):
            script_runs.start(command)
    for item in scripted:
        if not hasattr(item, "callspec"):  # one script in a new interpreter and in a fork
            script_runs.submit(*item.module.standalone_run(), fresh=True)
            script_runs.submit(*item.module.standalone_run())
            continue
        bug = item.callspec.params["bug"]
        if item.originalname in ("test_script_fails_on_affected_release_and_passes_on_fixed",
                                 "test_short_and_long_forms_agree_on_affected_and_fixed_lines"):
            runs = item.module.background_runs(bug)[1:]  # the affected and fixed releases' interpreters
        else:
            runs = item.module.background_runs(bug)[:1]  # the installed TRL
        for python, script, *args in runs:
            script_runs.submit(python, script, *args)
