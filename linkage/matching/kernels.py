"""Compiled similarity kernels over packed ``uint64`` Bloom filters.

Numba compiles these loops to machine code with the hardware popcount instruction
(``llvm.ctpop``) and runs rows in parallel on all cores. They are exact: a plain numpy
twin (:mod:`linkage.matching.similarity`) and property tests check them. Shapes: filters
are ``(n, w)`` uint64 C-contiguous; popcounts are ``(n,)`` int32.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.extending import intrinsic


@intrinsic
def _popcount(typingctx: Any, value: Any) -> Any:
    """Hardware population count of one uint64."""
    signature = numba.types.uint64(numba.types.uint64)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        ctpop = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(ctpop, args)

    return signature, codegen


popcount: Any = _popcount  # typed as Any: mypy cannot see through numba's intrinsic


@njit(parallel=True, cache=True)
def pair_intersections(a: np.ndarray, b: np.ndarray, ia: np.ndarray,
                       ib: np.ndarray) -> np.ndarray:  # pragma: no cover - compiled
    """``|a[ia[p]] & b[ib[p]]|`` for each pair ``p``: (P,) int32."""
    out = np.empty(ia.shape[0], dtype=np.int32)
    words = a.shape[1]
    for p in prange(ia.shape[0]):
        i = ia[p]
        j = ib[p]
        s = 0
        for k in range(words):
            s += popcount(a[i, k] & b[j, k])
        out[p] = s
    return out


@njit(parallel=True, cache=True)
def threshold_rows(a: np.ndarray, b: np.ndarray, pop_a: np.ndarray, pop_b: np.ndarray,
                   lo: np.ndarray, hi: np.ndarray, threshold: float, capacity: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # pragma: no cover
    """For each row ``i`` of ``a``, the columns ``j`` in ``[lo[i], hi[i])`` of ``b`` with
    Dice ``>= threshold``.

    Returns ``counts`` (n,) int64 (may exceed ``capacity``: the caller retries those
    rows), ``cols`` (n, capacity) int32 and ``sims`` (n, capacity) float32.
    """
    n = a.shape[0]
    words = a.shape[1]
    counts = np.zeros(n, dtype=np.int64)
    cols = np.empty((n, capacity), dtype=np.int32)
    sims = np.empty((n, capacity), dtype=np.float32)
    for i in prange(n):
        c = 0
        pa = pop_a[i]
        for j in range(lo[i], hi[i]):
            s = 0
            for k in range(words):
                s += popcount(a[i, k] & b[j, k])
            total = pa + pop_b[j]
            if total > 0 and 2.0 * s >= threshold * total:
                if c < capacity:
                    cols[i, c] = j
                    sims[i, c] = 2.0 * s / total
                c += 1
        counts[i] = c
    return counts, cols, sims


def warm_up() -> None:
    """Compile the kernels (cached on disk after the first run)."""
    z = np.zeros((1, 1), dtype=np.uint64)
    idx = np.zeros(1, dtype=np.int64)
    pair_intersections(z, z, idx, idx)
    threshold_rows(z, z, np.zeros(1, np.int32), np.zeros(1, np.int32), idx, idx + 1, 0.5, 1)


def threadsafe() -> bool:
    """Whether these kernels may run from several Python threads at once: numba's OpenMP
    and TBB threading layers allow it; its fallback "workqueue" layer (no OpenMP or TBB
    runtime on the machine) aborts the process when two parallel kernels overlap."""
    warm_up()  # the layer is chosen when the first parallel kernel runs
    return str(numba.threading_layer()) in ("omp", "tbb")

