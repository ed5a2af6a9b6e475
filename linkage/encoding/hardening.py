"""Hardening applied to packed filters after hashing.

Each function maps ``(n, w)`` uint64 filters to new packed filters; keyed steps take a key
derived for that purpose, so the linkage unit cannot undo them. Applied in this order by
:func:`harden`: XOR-folding, balancing, diffusion, BLIP. See ``docs/encoding.md`` for the
measured cost of each in linkage quality.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable

import numpy as np

from linkage.bits import packbits_rows, unpackbits_rows
from linkage.encoding.bloom import token_positions
from linkage.encoding.schema import HardeningSpec

_CHUNK = 1 << 15


def keyed_permutation(key: bytes, length: int) -> np.ndarray:
    """A permutation of ``range(length)`` fixed by ``key``: argsort of HMAC(key, index)."""
    ranks = token_positions([f"perm:{i}" for i in range(length)], key, 2, 1 << 30)
    return np.lexsort((ranks[:, 1], ranks[:, 0]))


def xor_fold(filters: np.ndarray) -> np.ndarray:
    """Fold each filter in half: first half XOR second half. ``(n, w)`` -> ``(n, w/2)``."""
    words = filters.shape[1]
    if words % 2:
        raise ValueError("XOR-folding needs an even number of 64-bit words.")
    return filters[:, : words // 2] ^ filters[:, words // 2:]


def balance(filters: np.ndarray, key: bytes) -> np.ndarray:
    """Append the complement and apply a keyed permutation: ``(n, w)`` -> ``(n, 2w)``.

    Every balanced filter has exactly half its bits set, hiding how many tokens it holds.
    """
    out = np.empty((filters.shape[0], filters.shape[1] * 2), dtype=np.uint64)
    perm = keyed_permutation(key, filters.shape[1] * 128)
    for lo in range(0, filters.shape[0], _CHUNK):
        bits = unpackbits_rows(filters[lo:lo + _CHUNK])
        both = np.concatenate([bits, 1 - bits], axis=1)
        out[lo:lo + _CHUNK] = packbits_rows(both[:, perm])
    return out


def diffuse(filters: np.ndarray, key: bytes, taps: int) -> np.ndarray:
    """Diffusion layer: output bit ``j`` is the XOR of ``taps`` keyed-random input bits.

    After Armknecht, Heng and Schnell (2023). Output length equals input length.
    """
    m = filters.shape[1] * 64
    inputs = token_positions([f"tap:{j}" for j in range(m)], key, taps, m)  # (m, taps)
    out = np.empty_like(filters)
    for lo in range(0, filters.shape[0], _CHUNK):
        bits = unpackbits_rows(filters[lo:lo + _CHUNK])
        acc = bits[:, inputs[:, 0]]
        for t in range(1, taps):
            acc ^= bits[:, inputs[:, t]]
        out[lo:lo + _CHUNK] = packbits_rows(acc)
    return out


def blip_flip_probability(epsilon: float) -> float:
    """Per-bit flip probability of randomised response with privacy budget ``epsilon``."""
    return 1.0 / (1.0 + math.exp(epsilon))


def field_flip_probability(spec: HardeningSpec) -> float:
    """The BLIP flip probability of the field filters under ``spec`` (0 when none)."""
    if spec.blip_epsilon is None or "field" not in spec.applies_to:
        return 0.0
    return blip_flip_probability(spec.blip_epsilon)


def blip(filters: np.ndarray, epsilon: float,
         rng: np.random.Generator | None = None) -> np.ndarray:
    """Flip each bit independently with probability ``1 / (1 + e^epsilon)`` (fresh noise)."""
    rng = rng or np.random.default_rng(secrets.randbits(128))
    p = blip_flip_probability(epsilon)
    out = np.empty_like(filters)
    for lo in range(0, filters.shape[0], _CHUNK):
        chunk = filters[lo:lo + _CHUNK]
        flips = (rng.random((chunk.shape[0], chunk.shape[1] * 64)) < p).astype(np.uint8)
        out[lo:lo + _CHUNK] = chunk ^ packbits_rows(flips)
    return out


def harden_deterministic(filters: np.ndarray, spec: HardeningSpec,
                         derive: Callable[[str], bytes]) -> np.ndarray:
    """Apply the keyed, deterministic steps ``spec`` enables (all but BLIP), in order.

    ``derive(step)`` returns the key for a step (``"balance"``, ``"diffusion"``).
    Deterministic steps may run once per distinct value before records are assembled.
    """
    out = filters
    if spec.xor_fold:
        out = xor_fold(out)
    if spec.balance:
        out = balance(out, derive("balance"))
    if spec.diffusion_taps:
        out = diffuse(out, derive("diffusion"), spec.diffusion_taps)
    return out
