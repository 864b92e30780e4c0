"""keep_freed_memory: a large block comes from glibc's heap (kept when freed), not from its own mmap."""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
import textwrap

import pytest

_PROBE = textwrap.dedent("""
    import ctypes, ctypes.util, sys
    from harness.pipeline.allocator import keep_freed_memory

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                     "fordblks", "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, (ctypes.c_size_t,)
    libc.free.argtypes = (ctypes.c_void_p,)
    took = keep_freed_memory() if sys.argv[1] == "keep" else None
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(64 << 20)
    mapped = libc.mallinfo2().hblkhd - before
    libc.free(block)
    arena_after_free = libc.mallinfo2().arena
    print(took, mapped, arena_after_free)
""")


def _probe(mode: str) -> tuple[str, int, int]:
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True)
    took, mapped, arena = out.stdout.split()
    return took, int(mapped), int(arena)


glibc_only = pytest.mark.skipif(not sys.platform.startswith("linux") or ctypes.util.find_library("c") is None,
                                reason="mallopt/mallinfo2 are glibc's")


@glibc_only
def test_a_large_block_is_served_from_the_heap_and_kept_after_free():
    took, mapped, arena = _probe("keep")
    assert took == "True"
    assert mapped == 0  # no mmap of its own for the 64 MiB block
    assert arena >= 64 << 20  # freed, and still in the heap for the next buffer


@glibc_only
def test_without_it_glibc_maps_the_block_on_its_own():
    """The probe can tell: by default a 64 MiB block is its own mmap (so the test above can fail)."""
    took, mapped, _ = _probe("default")
    assert took == "None"
    assert mapped >= 64 << 20
