"""Keyed blocking tokens: one 64-bit token per record and blocking pass.

Each distinct value of a part (``family_name.soundex``, ``date_of_birth``, ...) gets a
40-bit keyed hash (AES-256 under a key for that part); a record's token for a pass is
AES-256, under the pass key, of its parts' hashes side by side (at most three parts, 15
bytes, plus the part count). Everything runs on whole arrays: there is no Python loop per
record or per combination of values. Two part values whose 40-bit hashes collide (about one
pair among a million distinct values) only merge two blocks: blocking proposes a few more
candidates, the comparison of filters still decides.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from linkage.encoding.bloom import aes_ecb, token_blocks

PART_HASH_BYTES = 5  #: 3 parts x 5 bytes + a part count fill one AES block
MAX_PARTS = 3


def part_hashes(labels: np.ndarray, key: bytes) -> np.ndarray:
    """40-bit keyed hash of each distinct label: ``(L,)`` str -> ``(L,)`` uint64.

    The hash is the first five bytes of AES-256(key, label block), read little-endian.
    """
    blocks = np.zeros((len(labels), 16), dtype=np.uint8)
    blocks[:, :15] = token_blocks(np.asarray(labels, dtype=np.str_) if len(labels)
                                  else np.zeros(0, dtype="<U1"))
    first8 = np.ascontiguousarray(aes_ecb(key, blocks)[:, :8]).view("<u8").ravel()
    return first8.astype(np.uint64) & np.uint64((1 << 40) - 1)


@njit(cache=True, nogil=True)
def _pass_blocks(tables: tuple, codes: tuple, either_order: bool, parts: int,
                 words: np.ndarray) -> None:  # pragma: no cover - compiled
    """Fill ``words`` (n, 2) uint64 with each record's AES input block for one pass.

    ``tables`` holds MAX_PARTS (L_k,) uint64 part-hash tables and ``codes`` MAX_PARTS
    (n,) int64 indexes into them (unused parts: a table of one zero and zero codes; -1: the
    part is missing, and the block is left as zeros). ``parts`` goes in byte 15.
    """
    count = np.uint64(parts) << np.uint64(56)
    for i in range(words.shape[0]):
        c0, c1, c2 = codes[0][i], codes[1][i], codes[2][i]
        if c0 < 0 or c1 < 0 or c2 < 0:
            words[i, 0] = 0
            words[i, 1] = 0
            continue
        h0, h1, h2 = tables[0][c0], tables[1][c1], tables[2][c2]
        if either_order and h1 < h0:
            h0, h1 = h1, h0
        words[i, 0] = h0 | (h1 << np.uint64(40))
        words[i, 1] = (h1 >> np.uint64(24)) | (h2 << np.uint64(16)) | count


@njit(cache=True, nogil=True)
def _tokens_from_cipher(cipher: np.ndarray, codes: tuple,
                        tokens: np.ndarray) -> None:  # pragma: no cover - compiled
    """``tokens[i]``: the first little-endian word of block ``i`` of ``cipher`` (n, 2)
    uint64, 1 where that is 0, and 0 where a part of record ``i`` is missing."""
    for i in range(tokens.shape[0]):
        if codes[0][i] < 0 or codes[1][i] < 0 or codes[2][i] < 0:
            tokens[i] = 0
        else:
            t = cipher[i, 0]
            tokens[i] = t if t != 0 else np.uint64(1)


class PassScratch:
    """Buffers reused by every pass of one extract (AES input blocks and output), so that
    nine passes over a million records allocate them once, not nine times."""

    def __init__(self, n: int) -> None:
        self.words = np.empty((n, 2), dtype=np.uint64)
        self.cipher = bytearray(16 * n + 15)


def pass_tokens(tables: list[np.ndarray], codes: list[np.ndarray], key: bytes, *,
                either_order: bool, out: np.ndarray | None = None,
                scratch: PassScratch | None = None) -> np.ndarray:
    """Tokens of one pass: ``(n,)`` uint64, 0 where a part is missing (written into
    ``out`` when given, e.g. a column of the (n, passes) token matrix).

    Part ``k`` of record ``i`` has the 40-bit hash ``tables[k][codes[k][i]]`` (``codes``
    (n,) int64, -1 = missing). The AES input block is the parts' hashes side by side (5
    little-endian bytes each) with the number of parts in byte 15. With ``either_order``
    the first two hashes are put in ascending order first, so swapped given and family
    names give the same token. A token is never 0 (0 = "none").
    """
    parts = len(tables)
    n = len(codes[0])
    unused = MAX_PARTS - parts
    padded_tables = tuple([np.ascontiguousarray(t, dtype=np.uint64) for t in tables]
                          + [np.zeros(1, dtype=np.uint64)] * unused)
    padded_codes = tuple([np.ascontiguousarray(c, dtype=np.int64) for c in codes]
                         + [np.zeros(n, dtype=np.int64)] * unused)
    scratch = scratch if scratch is not None else PassScratch(n)
    _pass_blocks(padded_tables, padded_codes, either_order and parts > 1, parts, scratch.words)
    cipher = aes_ecb(key, scratch.words.astype("<u8", copy=False).view(np.uint8),
                     out=scratch.cipher)
    tokens = out if out is not None else np.empty(n, dtype=np.uint64)
    _tokens_from_cipher(cipher.view("<u8").reshape(n, 2).astype(np.uint64, copy=False),
                        padded_codes, tokens)
    return tokens
