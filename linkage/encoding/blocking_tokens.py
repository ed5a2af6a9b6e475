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
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from linkage.encoding.bloom import token_blocks

PART_HASH_BYTES = 5  #: 3 parts x 5 bytes + a part count fill one AES block


def _aes(key: bytes, blocks: np.ndarray) -> np.ndarray:
    """AES-256-ECB of ``(n, 16)`` uint8 blocks -> ``(n, 16)`` uint8."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(np.ascontiguousarray(blocks).tobytes()) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, 16)


def part_hashes(labels: np.ndarray, key: bytes) -> np.ndarray:
    """40-bit keyed hash of each distinct label: ``(L,)`` str -> ``(L, 5)`` uint8."""
    blocks = np.zeros((len(labels), 16), dtype=np.uint8)
    blocks[:, :15] = token_blocks(np.asarray(labels, dtype=np.str_) if len(labels)
                                  else np.zeros(0, dtype="<U1"))
    return _aes(key, blocks)[:, :PART_HASH_BYTES]


def pass_tokens(hashes: list[np.ndarray], key: bytes, *, either_order: bool) -> np.ndarray:
    """Tokens of one pass from each record's part hashes: list of ``(n, 5)`` -> ``(n,)`` uint64.

    With ``either_order`` the first two parts are put in ascending byte order first, so
    swapped given and family names give the same token. A token is never 0 (0 = "none").
    """
    first, second = hashes[0], hashes[1] if len(hashes) > 1 else hashes[0]
    if either_order and len(hashes) > 1:
        weights = np.uint64(1) << (np.arange(PART_HASH_BYTES - 1, -1, -1, dtype=np.uint64) * 8)
        swap = (first.astype(np.uint64) @ weights) > (second.astype(np.uint64) @ weights)
        first, second = np.where(swap[:, None], second, first), np.where(swap[:, None], first,
                                                                          second)
        hashes = [first, second, *hashes[2:]]
    blocks = np.zeros((len(hashes[0]), 16), dtype=np.uint8)
    for p, part in enumerate(hashes):
        blocks[:, p * PART_HASH_BYTES:(p + 1) * PART_HASH_BYTES] = part
    blocks[:, 15] = len(hashes)
    cipher = _aes(key, blocks)
    tokens = np.ascontiguousarray(cipher[:, :8]).view("<u8").ravel().astype(np.uint64)
    tokens[tokens == 0] = 1
    return tokens
