"""Keyed Bloom filters as packed ``uint64`` matrices.

Bit ``i`` of a filter lives in word ``i // 64`` at bit ``i % 64`` (least significant
first). Each token sets ``bits_per_token`` positions taken from a keyed pseudo-random
function of the token under a per-field key derived with HKDF ("random hashing":
independent positions per token, not double hashing, which has published attacks).
"""

from __future__ import annotations

import hashlib

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from numba import njit, prange

from linkage.bits import packbits_rows, unpackbits_rows


def token_blocks(tokens: list[str] | np.ndarray) -> np.ndarray:
    """Each token as a 15-byte block: ``(T, 15)`` uint8.

    Byte 0 is the UTF-8 length (0-14) and bytes 1-14 the padded UTF-8 bytes; a token longer
    than 14 bytes becomes ``0xFF`` followed by the first 14 bytes of its SHA-256, so
    distinct tokens give distinct blocks (up to SHA-256 collisions).
    """
    count = len(tokens)
    out = np.zeros((count, 15), dtype=np.uint8)
    if count == 0:
        return out
    text = np.asarray(tokens, dtype=np.str_)
    width = text.dtype.itemsize // 4
    codepoints = text.view(np.uint32).reshape(count, width)
    ascii_rows = (codepoints < 128).all(axis=1)
    lengths = np.char.str_len(text)
    # ASCII tokens: the code points are the UTF-8 bytes (vectorised, the common case).
    take = min(width, 14)
    out[:, 1:1 + take] = codepoints[:, :take].astype(np.uint8)
    out[:, 0] = np.minimum(lengths, 255)
    for i in np.flatnonzero(~ascii_rows | (lengths > 14)).tolist():
        encoded = str(text[i]).encode("utf-8")
        out[i] = 0
        if len(encoded) <= 14:
            out[i, 0] = len(encoded)
            out[i, 1:1 + len(encoded)] = np.frombuffer(encoded, dtype=np.uint8)
        else:
            out[i, 0] = 0xFF
            out[i, 1:] = np.frombuffer(hashlib.sha256(encoded).digest()[:14], dtype=np.uint8)
    return out


def aes_ecb(key: bytes, blocks: np.ndarray, out: bytearray | None = None) -> np.ndarray:
    """AES-256-ECB of ``(n, 16)`` uint8 blocks -> ``(n, 16)`` uint8: the keyed pseudo-random
    function behind filter positions and blocking tokens (``cryptography``'s AES).

    Encrypts straight into a buffer (``update_into``; ``out``, of at least ``16 n + 15``
    bytes, may be reused across calls): ten times faster than ``update`` on millions of
    blocks, which copies its input and output.
    """
    plain = np.ascontiguousarray(blocks, dtype=np.uint8).reshape(-1)
    if out is None or len(out) < len(plain) + 15:
        out = bytearray(len(plain) + 15)  # update_into wants room for one more block
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    written = encryptor.update_into(plain.data, out)
    encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8, count=written).reshape(-1, 16)


@njit(cache=True)
def _join_blocks(left: np.ndarray, right: np.ndarray, sep: np.ndarray,
                 out: np.ndarray) -> bool:  # pragma: no cover - compiled
    for i in range(left.shape[0]):
        lt, ls = left[i, 0], right[i, 0]
        total = lt + sep.shape[0] + ls
        if lt == 0xFF or ls == 0xFF or total > 14:
            return False
        out[i, 0] = total
        at = 1
        for j in range(lt):
            out[i, at] = left[i, 1 + j]
            at += 1
        for j in range(sep.shape[0]):
            out[i, at] = sep[j]
            at += 1
        for j in range(ls):
            out[i, at] = right[i, 1 + j]
            at += 1
    return True


def joined_blocks(left: np.ndarray, right: np.ndarray, separator: str) -> np.ndarray | None:
    """The block of ``a + separator + b`` from the blocks of ``a`` and ``b`` (row by row):
    ``(T, 15)`` uint8 each -> ``(T, 15)`` uint8, or None when a joined token would exceed
    14 bytes or a part is itself hashed (the caller then spells the strings out).

    UTF-8 is concatenative, so joining the bytes gives the block of the joined string: salted
    tokens (``bigram|2021-03-07``) are built from integer codes without making strings.
    """
    out = np.zeros((len(left), 15), dtype=np.uint8)
    sep = np.frombuffer(separator.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    ok = _join_blocks(np.ascontiguousarray(left, dtype=np.uint8).astype(np.int64),
                      np.ascontiguousarray(right, dtype=np.uint8).astype(np.int64), sep, out)
    return out if ok else None


def block_positions(blocks: np.ndarray, field_key: bytes, bits_per_token: int,
                    filter_bits: int) -> np.ndarray:
    """:func:`token_positions` of tokens given as their :func:`token_blocks`."""
    count = -(-bits_per_token // 8)
    plain = np.empty((len(blocks), count, 16), dtype=np.uint8)
    plain[:, :, :15] = blocks[:, None, :]
    plain[:, :, 15] = np.arange(count, dtype=np.uint8)
    cipher = aes_ecb(field_key, plain.reshape(-1, 16))
    words = cipher.view("<u2").reshape(len(blocks), count * 8)
    return (words[:, :bits_per_token] % np.uint32(filter_bits)).astype(np.int32)


def token_positions(tokens: list[str] | np.ndarray, field_key: bytes, bits_per_token: int,
                    filter_bits: int) -> np.ndarray:
    """Bit positions of each token: ``(len(tokens), bits_per_token)`` int32 in ``[0, filter_bits)``.

    The keyed pseudo-random function is AES-256 (``cryptography``) applied to each distinct
    (token block, counter) 16-byte block in one vectorised call; each output block gives
    eight 16-bit words, reduced modulo ``filter_bits`` (at most 65536, so the bias is below
    filter_bits / 2^16 and zero for powers of two). Positions of different tokens are
    independent ("random hashing").
    """
    return block_positions(token_blocks(tokens), field_key, bits_per_token, filter_bits)


@njit(parallel=True, cache=True)
def _set_bits(out: np.ndarray, starts: np.ndarray, token_code: np.ndarray,
              positions: np.ndarray) -> None:  # pragma: no cover - compiled
    # row r owns entries starts[r]:starts[r + 1] (owners sorted): rows are independent
    for row in prange(out.shape[0]):
        for e in range(starts[row], starts[row + 1]):
            code = token_code[e]
            for k in range(positions.shape[1]):
                p = np.int64(positions[code, k])
                out[row, p >> 6] |= np.uint64(1) << np.uint64(p & 63)


@njit(parallel=True, cache=True)
def _gather_or(out: np.ndarray, table: np.ndarray, codes: np.ndarray) -> None:  # pragma: no cover
    for i in prange(codes.shape[0]):
        code = codes[i]
        if code >= 0:
            for w in range(table.shape[1]):
                out[i, w] |= table[code, w]


def gather_filters(table: np.ndarray, codes: np.ndarray,
                   out: np.ndarray | None = None) -> np.ndarray:
    """Row ``codes[i]`` of ``table`` for each record, OR-ed into ``out`` (zeros if None).

    ``table`` (V, w) uint64; ``codes`` (n,) int64, -1 for "missing" (row left as is).
    Compiled and parallel: no (n, w) temporary, so OR-ing several fields' contributions
    into one record-level matrix costs one pass each.
    """
    if out is None:
        out = np.zeros((len(codes), table.shape[1]), dtype=np.uint64)
    if len(table):
        _gather_or(out, np.ascontiguousarray(table), np.ascontiguousarray(codes, np.int64))
    return out


def pack_token_bits(owner: np.ndarray, token_code: np.ndarray, positions: np.ndarray,
                    n_rows: int, filter_bits: int) -> np.ndarray:
    """Filters where row ``owner[e]`` has every bit of ``positions[token_code[e]]`` set.

    ``owner``, ``token_code`` (E,) int64; ``positions`` (D, k) int32 in ``[0, filter_bits)``.
    Returns ``(n_rows, filter_bits // 64)`` uint64. A compiled loop: no (rows x bits)
    intermediate matrix.
    """
    out = np.zeros((n_rows, filter_bits // 64), dtype=np.uint64)
    if len(owner):
        owner = np.asarray(owner, dtype=np.int64)
        order = None if np.all(owner[1:] >= owner[:-1]) else np.argsort(owner, kind="stable")
        if order is not None:
            owner, token_code = owner[order], np.asarray(token_code)[order]
        starts = np.searchsorted(owner, np.arange(n_rows + 1, dtype=np.int64))
        # positions < filter_bits (at most 65536 in a schema): 16 bits each halve the
        # table's cache footprint, which is what this loop waits on
        narrow = np.uint16 if filter_bits <= 1 << 16 else np.int32
        _set_bits(out, starts, np.ascontiguousarray(token_code, dtype=np.int64),
                  np.ascontiguousarray(positions, dtype=narrow))
    return out


__all__ = ["aes_ecb", "block_positions", "gather_filters", "joined_blocks", "pack_token_bits",
           "packbits_rows", "token_blocks", "token_positions", "unpackbits_rows"]
