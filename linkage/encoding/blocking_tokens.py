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
MAX_PARTS = 3


def _aes(key: bytes, blocks: np.ndarray) -> np.ndarray:
    """AES-256-ECB of ``(n, 16)`` uint8 blocks -> ``(n, 16)`` uint8."""
    encryptor = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    out = encryptor.update(np.ascontiguousarray(blocks).tobytes()) + encryptor.finalize()
    return np.frombuffer(out, dtype=np.uint8).reshape(-1, 16)


def part_hashes(labels: np.ndarray, key: bytes) -> np.ndarray:
    """40-bit keyed hash of each distinct label: ``(L,)`` str -> ``(L,)`` uint64.

    The hash is the first five bytes of AES-256(key, label block), read little-endian.
    """
    blocks = np.zeros((len(labels), 16), dtype=np.uint8)
    blocks[:, :15] = token_blocks(np.asarray(labels, dtype=np.str_) if len(labels)
                                  else np.zeros(0, dtype="<U1"))
    first8 = np.ascontiguousarray(_aes(key, blocks)[:, :8]).view("<u8").ravel()
    return first8.astype(np.uint64) & np.uint64((1 << 40) - 1)


def pass_tokens(hashes: list[np.ndarray], key: bytes, *, either_order: bool) -> np.ndarray:
    """Tokens of one pass from each record's part hashes: list of ``(n,)`` uint64 (40-bit)
    -> ``(n,)`` uint64.

    The AES input block is the parts' hashes side by side (5 little-endian bytes each) with
    the number of parts in byte 15. With ``either_order`` the first two hashes are put in
    ascending order first, so swapped given and family names give the same token. A token
    is never 0 (0 = "none").
    """
    parts = list(hashes)
    if either_order and len(parts) > 1:
        parts[0], parts[1] = np.minimum(parts[0], parts[1]), np.maximum(parts[0], parts[1])
    parts += [np.zeros_like(parts[0])] * (MAX_PARTS - len(parts))
    words = np.empty((len(parts[0]), 2), dtype=np.uint64)
    words[:, 0] = parts[0] | (parts[1] << np.uint64(40))
    words[:, 1] = ((parts[1] >> np.uint64(24)) | (parts[2] << np.uint64(16))
                   | (np.uint64(len(hashes)) << np.uint64(56)))
    cipher = _aes(key, words.astype("<u8").view(np.uint8).reshape(-1, 16))
    tokens = np.ascontiguousarray(cipher[:, :8]).view("<u8").ravel().astype(np.uint64)
    tokens[tokens == 0] = 1
    return tokens
