"""Keep what a process has loaded for its whole life out of the garbage collector's full passes.

Why: CPython's full collection (generation 2) walks every object that can hold references, and it runs
again each time the objects that survived younger collections grow by a quarter. After importing torch,
transformers, datasets and TRL a process holds about 420,000 such objects; the test process holds 2.4 million
by its end. Loading a tokenizer (transformers reads ``tokenizer.json`` into Python lists and dicts) and
preparing datasets make many survivors, so the full passes come often and each walks everything again:
16 passes took 4.5 of 52 CPU s in a one-process ``run`` of the default sweep, and 32 passes 15.5-15.9 s of the
README test command's process (up to 1.2 s each).

``keep_out_of_full_collections()`` collects once and then freezes what is left (``gc.freeze``): the imported
modules, the cases, the test items. Frozen objects are still freed when nothing refers to them; only a
reference cycle among them would never be collected, so it is called where everything alive is meant to
stay: after a process's imports and setup, before it loads tokenizers or builds trainers. Once per process:
a later call (``run`` called again inside the test process, which froze after collecting) does nothing.
"""

from __future__ import annotations

import gc


def keep_out_of_full_collections() -> None:
    """Collect what is garbage now, then move every object left into the collector's permanent generation;
    nothing when this process has frozen before."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
