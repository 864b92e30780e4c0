"""Keep freed memory in the process for reuse instead of handing it back to the kernel (glibc ``malloc``).

Why: torch, datasets and the tokenizers allocate and free large buffers over and over (a training step's
activations, a ``datasets.map`` batch, a tokenizer's vocabulary). By default glibc serves every block above
a threshold (128 KiB, rising to 32 MiB) with a fresh ``mmap`` and unmaps it when freed, and gives the top of
its heap back once 128 KiB of it is free; the next buffer then faults its pages in again, each cleared by the
kernel. On a 2-core VM that cost ``conformance/test_training.py`` 4.6 million page faults and 13-14 s of
system time (140,000 and about 1 s with this; docs/suite.md, "Memory the kernel has to clear").

``keep_freed_memory()`` sets two ``mallopt`` parameters for the rest of the process: no ``mmap`` for
single blocks (``M_MMAP_MAX`` 0; glibc then grows its heap instead) and no trimming of the heap's free top
(``M_TRIM_THRESHOLD`` at its largest). The process keeps its peak memory until it ends. It is called by this
project's own processes only (the command line, its worker processes, this repository's pytest run), never
by the pytest plugin inside someone else's test session. Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

M_TRIM_THRESHOLD = -1  # <malloc.h>
M_MMAP_MAX = -4
LARGEST_TRIM_THRESHOLD = 2**31 - 1  # a C int


@functools.cache
def keep_freed_memory() -> bool:
    """Tell glibc to keep freed memory (see the module docstring); True when it took both settings."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, LARGEST_TRIM_THRESHOLD))
