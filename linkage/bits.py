"""Packed bit matrices: the one representation shared by encoding and matching.

A filter of ``m`` bits is a row of ``m // 64`` uint64 words; bit ``i`` lives in word
``i // 64`` at bit ``i % 64`` (least significant first).
"""

from __future__ import annotations

import numpy as np


def packbits_rows(bits: np.ndarray) -> np.ndarray:
    """``(n, m)`` 0/1 uint8 -> ``(n, m // 64)`` uint64, bit ``i`` at word ``i//64`` bit ``i%64``."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    return np.ascontiguousarray(packed).view("<u8").astype(np.uint64, copy=False)


def unpackbits_rows(filters: np.ndarray) -> np.ndarray:
    """Inverse of :func:`packbits_rows`: ``(n, w)`` uint64 -> ``(n, 64 w)`` 0/1 uint8."""
    as_bytes = np.ascontiguousarray(filters.astype("<u8", copy=False)).view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")
