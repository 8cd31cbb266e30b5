"""The memory allocator of the processes the twin runs itself: freed arrays kept for reuse.

glibc maps every array above its mmap threshold afresh and unmaps it when freed, and returns the
top of the heap to the system above its trim threshold, so a (site, time) temporary of a block
of sites has its pages faulted in again, zeroed by the kernel, each time it is made. Its dynamic
threshold (raised to the size of each freed mapping) helps, but Dask's nannies turn it off
(they start workers with MALLOC_TRIM_THRESHOLD_=65536). The twin's command (``twin run``,
``simulate``, ``study``, ``fleet``, ``size``, ``serve``) and its study workers keep freed memory
for reuse instead (README, "Speed of the whole twin"): measured, 900 study site-years 88.7 ->
45.1 s (page faults 9.8 -> 0.45 million); the generation step 2.7 -> 2.0 ms per site-year. The
cost: a process keeps its peak memory until it ends. numpy's request for transparent huge pages
is switched off in the same processes (:data:`NO_HUGE_PAGES`). A library call
(``twin.simulate`` from a notebook) leaves the process's allocator as it is;
:func:`keep_freed_memory` sets it there too.
"""

from __future__ import annotations

import functools
import mmap
import os

# glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (malloc.h), as environment variables (for child
# processes) and mallopt parameters (for this one); 32 MB is the largest mmap threshold glibc
# takes on 64-bit systems, above a block's temporaries (twin.simulate.BLOCK_ELEMENTS: 2 MB)
KEEP_FREED_MEMORY = {"MALLOC_TRIM_THRESHOLD_": 2**28, "MALLOC_MMAP_THRESHOLD_": 2**25}
_MALLOPT = {"MALLOC_TRIM_THRESHOLD_": -1, "MALLOC_MMAP_THRESHOLD_": -3}
# numpy asks the kernel for transparent huge pages for arrays of 4 MB or more (madvise); where
# the kernel defragments for them on demand (/sys/kernel/mm/transparent_hugepage/defrag
# "madvise", the usual default) a fresh output array can stall in memory compaction. Measured
# (benchmarks/generation.py --site-years 1000, 2026-12-05, quiet): one run of 1,000 site-years
# 12.4-13.7 ms per site-year with them, 8.5 without; ten runs of 100: 8.3 and 7.6.
NO_HUGE_PAGES = {"NUMPY_MADVISE_HUGEPAGE": "0"}
# numpy asks for huge pages for arrays of this many bytes or more (numpy/_core/src/multiarray/
# alloc.c, Linux only)
NUMPY_HUGE_PAGE_BYTES = 1 << 22


def _numpy_core():
    """numpy's core module (numpy._core from numpy 2, numpy.core before)."""
    import numpy as np

    return getattr(np, "_core", None) or getattr(np, "core", None)


def output_array(shape, dtype=float):
    """An uninitialised array for an output that is written whole once (twin.simulate's
    outputs, which are the results the caller keeps), from :data:`OUTPUTS`: the memory of an
    earlier output the caller has dropped, where one of the same size is there, else fresh
    memory (``numpy.empty``) whose pages, where numpy asks the kernel for transparent huge pages
    for it (``NUMPY_HUGE_PAGE_BYTES`` or more, while numpy's setting is on: a library call;
    :func:`keep_freed_memory` switches it off), are marked not to be huge (``MADV_NOHUGEPAGE``)
    before they are first written. Measured (2026-12-05, 100 EPW site-years simulated six times
    in one process, every result kept, one thread; /tmp/s/keepres.py of the session notes):
    kernel time 5.1 ms per site-year with numpy's huge pages, 1.9 with small pages."""
    import numpy as np

    return np.asarray(OUTPUTS.take(tuple(int(n) for n in shape), np.dtype(dtype)))


def _fresh(nbytes: int):
    """``nbytes`` of fresh memory (a numpy byte array) for outputs, its pages marked not huge
    where numpy would ask for huge pages (:func:`output_array`)."""
    import numpy as np

    memory = np.empty(nbytes, np.uint8)
    huge = getattr(getattr(_numpy_core(), "multiarray", None), "_get_madvise_hugepage", None)
    if nbytes >= NUMPY_HUGE_PAGE_BYTES and huge is not None and huge():
        _advise(memory, getattr(mmap, "MADV_NOHUGEPAGE", None))
    return memory


class _Lease:
    """What an output array's memory belongs to while the caller holds the array (its
    ``base``): when the last array or view on it goes, the memory returns to the pool."""

    __slots__ = ("__array_interface__", "memory", "__weakref__")

    def __init__(self, memory, shape, dtype):
        self.memory = memory
        self.__array_interface__ = {"shape": shape, "typestr": dtype.str, "version": 3,
                                    "data": (memory.ctypes.data, False)}


class OutputPool:
    """The memory of outputs the caller has dropped, kept for the next outputs of the same size.

    A caller that simulates again and again (a scheduler on every forecast, a study's worker,
    a benchmark) drops each result before or as the next one comes: its outputs' memory is then
    written again where it is, instead of the allocator unmapping it and the kernel faulting in
    and zeroing fresh pages for the next result (about 1.5 ms of kernel time per site-year,
    README "Speed of the whole twin"). :func:`twin.simulate.simulate` calls :meth:`clear` as it
    ends: what the pool keeps is at most the outputs dropped since, for the next run to take."""

    def __init__(self):
        import threading

        self._kept: dict[int, list] = {}
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype) -> _Lease:
        """A lease of memory for an array of ``shape`` and ``dtype`` (``numpy.asarray`` of it is
        the array): memory of a dropped output of that size, or fresh."""
        import math
        import weakref

        nbytes = math.prod(shape) * dtype.itemsize
        with self._lock:
            kept = self._kept.get(nbytes)
            memory = kept.pop() if kept else None
        lease = _Lease(_fresh(nbytes) if memory is None else memory, shape, dtype)
        weakref.finalize(lease, self._give_back, lease.memory).atexit = False
        return lease

    def _give_back(self, memory) -> None:
        with self._lock:
            self._kept.setdefault(memory.nbytes, []).append(memory)

    def kept_bytes(self) -> int:
        """The memory kept for reuse [bytes]."""
        with self._lock:
            return sum(m.nbytes for kept in self._kept.values() for m in kept)

    def clear(self) -> None:
        """Free the kept memory (outputs still held are not touched)."""
        with self._lock:
            self._kept = {}


OUTPUTS = OutputPool()


def _advise(array, advice) -> None:
    """``madvise(advice)`` on the whole pages of ``array``'s memory, where the C library has
    it (Linux); nothing where it or ``advice`` is missing, or the kernel refuses."""
    madvise = _madvise()
    page = mmap.PAGESIZE
    start = -(-array.ctypes.data // page) * page
    end = (array.ctypes.data + array.nbytes) // page * page
    if madvise is not None and advice is not None and end > start:
        madvise(start, end - start, advice)


@functools.cache
def _madvise():
    """The C library's ``madvise``, or None where there is none."""
    import ctypes

    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError, TypeError):
        return None
    madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    madvise.restype = ctypes.c_int
    return madvise


def keep_freed_memory() -> bool:
    """Set this process's allocator to :data:`KEEP_FREED_MEMORY` (glibc's ``mallopt``) and
    numpy's arrays to :data:`NO_HUGE_PAGES`, and put both in the environment of the processes
    it starts; whether the allocator took. Nothing is changed where the user set any of these
    variables; the allocator is left where the C library is not glibc."""
    if any(k in os.environ for k in {**KEEP_FREED_MEMORY, **NO_HUGE_PAGES}):
        return False
    # numpy's own switch of NUMPY_MADVISE_HUGEPAGE
    set_huge_pages = getattr(getattr(_numpy_core(), "multiarray", None), "_set_madvise_hugepage",
                             None)
    if set_huge_pages is not None:
        set_huge_pages(False)
        os.environ.update(NO_HUGE_PAGES)
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):  # no mallopt (not glibc), or no CDLL(None)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if not all(mallopt(_MALLOPT[k], v) == 1 for k, v in KEEP_FREED_MEMORY.items()):
        return False
    os.environ.update({k: str(v) for k, v in KEEP_FREED_MEMORY.items()})
    return True
