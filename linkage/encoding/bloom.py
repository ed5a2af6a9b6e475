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

from linkage.bits import packbits_rows, unpackbits_rows

_ROW_CHUNK = 1 << 15


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


def token_positions(tokens: list[str] | np.ndarray, field_key: bytes, bits_per_token: int,
                    filter_bits: int) -> np.ndarray:
    """Bit positions of each token: ``(len(tokens), bits_per_token)`` int64 in ``[0, filter_bits)``.

    The keyed pseudo-random function is AES-256 (``cryptography``) applied to each distinct
    (token block, counter) 16-byte block in one vectorised call; each output block gives
    eight 16-bit words, reduced modulo ``filter_bits`` (at most 65536, so the bias is below
    filter_bits / 2^16 and zero for powers of two). Positions of different tokens are
    independent ("random hashing").
    """
    blocks = -(-bits_per_token // 8)
    base = token_blocks(tokens)
    plain = np.empty((len(tokens), blocks, 16), dtype=np.uint8)
    plain[:, :, :15] = base[:, None, :]
    plain[:, :, 15] = np.arange(blocks, dtype=np.uint8)
    encryptor = Cipher(algorithms.AES(field_key), modes.ECB()).encryptor()
    cipher = encryptor.update(plain.tobytes()) + encryptor.finalize()
    words = np.frombuffer(cipher, dtype="<u2").reshape(len(tokens), blocks * 8)
    return (words[:, :bits_per_token] % np.uint32(filter_bits)).astype(np.int64)


def pack_rows(rows: np.ndarray, positions: np.ndarray, n_rows: int,
              filter_bits: int) -> np.ndarray:
    """Filters with bit ``positions[j]`` set in row ``rows[j]``.

    ``rows`` (E,) int64, sorted ascending; ``positions`` (E,) int64. Returns
    ``(n_rows, filter_bits // 64)`` uint64. Work is chunked over rows so memory stays near
    ``_ROW_CHUNK * filter_bits`` bytes.
    """
    words = filter_bits // 64
    out = np.zeros((n_rows, words), dtype=np.uint64)
    if len(rows) == 0:
        return out
    bounds = np.searchsorted(rows, np.arange(0, n_rows + _ROW_CHUNK, _ROW_CHUNK))
    for c in range(len(bounds) - 1):
        lo, hi = bounds[c], bounds[c + 1]
        if lo == hi:
            continue
        first = c * _ROW_CHUNK
        count = min(_ROW_CHUNK, n_rows - first)
        bits = np.zeros((count, filter_bits), dtype=np.uint8)
        bits[rows[lo:hi] - first, positions[lo:hi]] = 1
        out[first:first + count] = packbits_rows(bits)
    return out


__all__ = ["pack_rows", "packbits_rows", "token_blocks", "token_positions", "unpackbits_rows"]
