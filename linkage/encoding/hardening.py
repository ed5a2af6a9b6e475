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
from numba import njit, prange

from linkage.bits import packbits_rows, unpackbits_rows
from linkage.encoding.bloom import token_positions
from linkage.encoding.schema import EncodingSchema, HardeningSpec

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


def field_flip_probability(spec: HardeningSpec, field: str) -> float:
    """The BLIP flip probability of ``field``'s filters under ``spec`` (0 when none)."""
    if spec.blip_epsilon is None or "field" not in spec.applies_to or \
            (spec.blip_fields is not None and field not in spec.blip_fields):
        return 0.0
    return blip_flip_probability(spec.blip_epsilon)


def field_flip_probabilities(schema: EncodingSchema) -> dict[str, float]:
    """Field -> BLIP flip probability, for the fields that carry noise (what the linkage
    unit needs to compare them; it reads the schema from the encoding header)."""
    noisy = {f.name: field_flip_probability(schema.hardening, f.name) for f in schema.fields}
    return {name: p for name, p in noisy.items() if p > 0}


@njit(cache=True, inline="always")
def _splitmix64(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover
    """One step of SplitMix64: (next state, 64 random bits)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


_GAP_BUCKET_BITS = 16  #: the top bits of each uniform draw that index the gap table


@njit(cache=True)
def _gap_table(log_keep: float) -> np.ndarray:  # pragma: no cover - compiled
    """For each bucket of the top 16 bits of a draw, the geometric gap every draw in it
    gives, or -1 where the bucket straddles two gaps (the kernel then takes the logarithm).

    The gap ``floor(log(u) / log_keep)`` falls as ``u`` grows, so a bucket whose two ends
    give the same gap gives that gap for every ``u`` inside: the table is exact, not an
    approximation, and computed with the same ``log`` as the kernel.
    """
    size = 1 << _GAP_BUCKET_BITS
    table = np.empty(size, dtype=np.int64)
    shift = 53 - _GAP_BUCKET_BITS
    for b in range(size):
        low = (float(b << shift) + 1.0) * (1.0 / 9007199254740992.0)
        high = (float((b + 1) << shift)) * (1.0 / 9007199254740992.0)
        g_low = math.floor(math.log(low) / log_keep)
        g_high = math.floor(math.log(high) / log_keep)
        table[b] = g_low if g_low == g_high else -1
    return table


@njit(parallel=True, cache=True)
def _flip_bits(filters: np.ndarray, log_keep: float, seed: np.uint64,
               gaps: np.ndarray) -> None:  # pragma: no cover - compiled
    """Flip each bit of ``filters`` (n, w) uint64 in place with probability ``p``, where
    ``log_keep = log(1 - p)``: the gaps between flips are geometric, so the work is the
    number of flips, not the number of bits. Each row has its own stream, mixed from
    ``seed`` and the row number. ``gaps`` is :func:`_gap_table` of ``log_keep``: most
    draws read their gap from it instead of computing a logarithm."""
    n, words = filters.shape
    bits = words * 64
    shift = np.uint64(64 - _GAP_BUCKET_BITS)
    for i in prange(n):
        state, _ = _splitmix64(seed ^ (np.uint64(i) * np.uint64(0xD1B54A32D192ED03)))
        position = -1
        while True:
            state, z = _splitmix64(state)
            gap = gaps[z >> shift]
            if gap < 0:
                u = (float(z >> np.uint64(11)) + 1.0) * (1.0 / 9007199254740992.0)  # (0, 1]
                gap = math.floor(math.log(u) / log_keep)
            position += gap + 1
            if position >= bits:
                break
            filters[i, position >> 6] ^= np.uint64(1) << np.uint64(position & 63)


def blip(filters: np.ndarray, epsilon: float, seed: int | None = None, *,
         in_place: bool = False) -> np.ndarray:
    """Flip each bit independently with probability ``1 / (1 + e^epsilon)`` (fresh noise).

    ``(n, w)`` uint64 -> ``(n, w)`` uint64: a new array, or ``filters`` itself with
    ``in_place`` (then it must be C-contiguous uint64). ``seed`` (64 bits) fixes the noise
    for tests; by default it comes from the operating system's CSPRNG on every call.
    """
    if in_place:
        if filters.dtype != np.uint64 or not filters.flags.c_contiguous:
            raise ValueError("blip in place needs a C-contiguous uint64 array")
        out = filters
    else:
        out = np.array(filters, dtype=np.uint64, order="C", copy=True)
    p = blip_flip_probability(epsilon)
    seed = secrets.randbits(64) if seed is None else seed
    log_keep = math.log1p(-p)
    _flip_bits(out, log_keep, np.uint64(seed), _gap_table(log_keep))
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
