"""Blocking without the key: candidate pairs from keyed tokens and from LSH on filters.

Both kinds of pass give each record a ``uint64`` key per pass (0 = no key); records of
the two sources with equal keys in any pass become candidate pairs. Keyed tokens are made
by the data providers at encoding time; LSH keys are computed here from the record-level
filters (bit-sampling Hamming LSH over several bands), so the linkage unit never needs a
key. Blocks larger than ``max_block_pairs`` are skipped and counted, so a frequent key
cannot blow up the candidate set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

from linkage.bits import unpackbits_rows
from linkage.matching.uniques import distinct

_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class CandidatePairs:
    """Candidate pairs between sources A and B, and what each pass contributed."""

    left: np.ndarray                  #: (P,) int64 rows of A, sorted with ``right``
    right: np.ndarray                 #: (P,) int64 rows of B
    pairs_per_pass: dict[str, int]    #: pairs each pass produced (before the union)
    skipped_blocks: dict[str, int]    #: blocks skipped for being too large, per pass

    def __len__(self) -> int:
        return len(self.left)

    def reduction_ratio(self, n_left: int, n_right: int) -> float:
        """1 - candidates / all pairs."""
        return 1.0 - len(self) / max(n_left * n_right, 1)

    def summary(self) -> CandidatePairs:
        """The counts only: the pair arrays dropped (they can be most of the memory)."""
        return CandidatePairs.counted(self.pairs_per_pass, self.skipped_blocks, len(self))

    @staticmethod
    def counted(pairs_per_pass: dict[str, int], skipped_blocks: dict[str, int],
                count: int) -> CandidatePairs:
        """Counts of candidate pairs never held as arrays (``len`` gives ``count``)."""
        empty = np.zeros(0, np.int64)
        return _Summary(empty, empty, pairs_per_pass, skipped_blocks, count)


@dataclass(frozen=True)
class _Summary(CandidatePairs):
    """A :class:`CandidatePairs` that remembers how many pairs it had."""

    count: int = 0

    def __len__(self) -> int:
        return self.count


@dataclass(frozen=True)
class LshParameters:
    """Bit-sampling LSH over record-level filters: ``bands`` keys of ``bits_per_band`` bits."""

    bands: int = 24
    bits_per_band: int = 24
    seed: int = 20261122


def lsh_keys(filters: np.ndarray, params: LshParameters) -> np.ndarray:
    """``(n, w)`` uint64 filters -> ``(n, bands)`` uint64 keys (0 reserved for "none").

    Each band samples ``bits_per_band`` of all ``64 w`` positions, drawn from
    ``params.seed`` alone, so that both sources' keys use the same positions whatever their
    data. The sample is public: it needs no key.
    """
    rng = np.random.default_rng(params.seed)
    m = filters.shape[1] * 64
    sample = rng.choice(m, size=(params.bands, params.bits_per_band), replace=True)
    out = np.empty((len(filters), params.bands), dtype=np.uint64)
    weights = (np.uint64(1) << np.arange(params.bits_per_band, dtype=np.uint64))
    for lo in range(0, len(filters), 1 << 15):
        bits = unpackbits_rows(filters[lo:lo + (1 << 15)]).astype(np.uint64)
        for band in range(params.bands):
            value = bits[:, sample[band]] @ weights
            out[lo:lo + len(bits), band] = _mix(value, band)
    return out


def _mix(values: np.ndarray, salt: int) -> np.ndarray:
    """A cheap 64-bit mix so that keys of different passes never collide by accident."""
    x = values.astype(np.uint64) ^ np.uint64(((salt + 1) * int(_MIX)) % 2**64)
    x ^= x >> np.uint64(31)
    with np.errstate(over="ignore"):
        x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(29)
    x[x == 0] = 1
    return x


@dataclass(frozen=True)
class CommonBlocks:
    """The keys two sorted key arrays share, and where each block starts and how big it is."""

    keys: np.ndarray     #: (K,) uint64
    start_a: np.ndarray  #: (K,) int64 first position of each key in A
    size_a: np.ndarray   #: (K,) int64
    start_b: np.ndarray  #: (K,) int64
    size_b: np.ndarray   #: (K,) int64

    def oversize(self, max_block_pairs: int) -> np.ndarray:
        """(K,) bool: blocks with more than ``max_block_pairs`` pairs, which are skipped."""
        return self.size_a * self.size_b > max_block_pairs


def common_blocks(sorted_a: np.ndarray, sorted_b: np.ndarray) -> CommonBlocks:
    """Blocks shared by ``sorted_a`` and ``sorted_b`` (ascending uint64 keys, no zeros)."""
    ua, sa, ca = np.unique(sorted_a, return_index=True, return_counts=True)
    ub, sb, cb = np.unique(sorted_b, return_index=True, return_counts=True)
    common, pa, pb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    return CommonBlocks(common, sa[pa].astype(np.int64), ca[pa].astype(np.int64),
                        sb[pb].astype(np.int64), cb[pb].astype(np.int64))


#: A join whose one side is this many times smaller than the other may look each large
#: side's key up in the small side's blocks (a hash lookup) instead of sorting both.
SMALL_SIDE = 8


def join_on_keys(keys_a: np.ndarray, keys_b: np.ndarray, max_block_pairs: int, *,
                 ordered: bool = True) -> tuple[np.ndarray, np.ndarray, int]:
    """All ``(i, j)`` with ``keys_a[i] == keys_b[j] != 0``: a vectorised join.

    ``keys_a`` (n_a,), ``keys_b`` (n_b,) uint64 (columns of a wider matrix are fine).
    Returns rows of A, rows of B (int64) and the number of blocks skipped because
    ``|A_block| * |B_block| > max_block_pairs``. ``ordered``: pairs come block by block in
    key order (a sort-merge join); otherwise in any order, which lets a join of a few
    records against many (a month's new records against everyone) skip sorting the many.
    """
    if not ordered:  # (sizes with the zero keys: counting them costs a pass over many)
        n_a, n_b = len(keys_a), len(keys_b)
        if n_a * SMALL_SIDE < n_b:
            return _join_few(keys_a, keys_b, max_block_pairs)
        if n_b * SMALL_SIDE < n_a:
            rows_b, rows_a, skipped = _join_few(keys_b, keys_a, max_block_pairs)
            return rows_a, rows_b, skipped
    ia = np.flatnonzero(keys_a)
    ib = np.flatnonzero(keys_b)
    ia = ia[np.argsort(keys_a[ia], kind="stable")]
    ib = ib[np.argsort(keys_b[ib], kind="stable")]
    blocks = common_blocks(keys_a[ia], keys_b[ib])
    keep = ~blocks.oversize(max_block_pairs)
    skipped = int((~keep).sum())
    start_a, start_b = blocks.start_a[keep], blocks.start_b[keep]
    size_a, size_b = blocks.size_a[keep], blocks.size_b[keep]
    sizes = size_a * size_b
    total = int(sizes.sum())
    if total == 0:
        empty = np.zeros(0, np.int64)
        return empty, empty, skipped
    group = np.repeat(np.arange(len(sizes)), sizes)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    local_a, local_b = np.divmod(offset, size_b[group])
    return ia[start_a[group] + local_a], ib[start_b[group] + local_b], skipped


def _join_few(keys_few: np.ndarray, keys_many: np.ndarray, max_block_pairs: int
              ) -> tuple[np.ndarray, np.ndarray, int]:
    """:func:`join_on_keys` of a few rows against many: the few are sorted into blocks,
    and one compiled pass over the many looks each key up among the blocks' keys."""
    few = np.flatnonzero(keys_few)
    few = few[np.argsort(keys_few[few], kind="stable")]
    values, start, count = np.unique(keys_few[few], return_index=True, return_counts=True)
    many, block = _rows_with_keys(keys_many, values)
    oversize = count * np.bincount(block, minlength=len(values)) > max_block_pairs
    keep = ~oversize[block]
    many, block = many[keep], block[keep]
    repeats = count[block]
    total = int(repeats.sum())
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(repeats) - repeats,
                                                          repeats)
    return (few[np.repeat(start[block], repeats) + offset].astype(np.int64),
            np.repeat(many, repeats).astype(np.int64), int(oversize.sum()))


@njit(cache=True, nogil=True)
def _rows_with_keys(keys: np.ndarray, values: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - compiled
    """The rows ``i`` (ascending) of ``keys`` (n,) uint64 whose key is non-zero and one of
    ``values`` (v,) uint64 (distinct), and that key's position in ``values``: two (k,)
    int64 arrays. An open-addressing hash table of the values, probed once per row."""
    size, bits = 2, 1
    while size < 2 * len(values):
        size, bits = 2 * size, bits + 1
    shift = np.uint64(64 - bits)
    table = np.zeros(size, np.uint64)
    slot = np.full(size, -1, np.int64)
    for j in range(len(values)):
        h = np.int64((values[j] * _MIX) >> shift)
        while slot[h] >= 0:
            h = (h + 1) & (size - 1)
        table[h] = values[j]
        slot[h] = j
    rows = np.empty(len(keys), np.int64)
    where = np.empty(len(keys), np.int64)
    k = 0
    for i in range(len(keys)):
        key = keys[i]
        if key == 0:
            continue
        h = np.int64((key * _MIX) >> shift)
        while slot[h] >= 0:
            if table[h] == key:
                rows[k] = i
                where[k] = slot[h]
                k += 1
                break
            h = (h + 1) & (size - 1)
    return rows[:k].copy(), where[:k].copy()


def union_pairs(lefts: list[np.ndarray], rights: list[np.ndarray],
                n_right: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs of several passes, sorted by (left, right)."""
    if not lefts:
        empty = np.zeros(0, np.int64)
        return empty, empty
    codes = distinct(np.concatenate([l_ * n_right + r for l_, r in zip(lefts, rights,
                                                                       strict=True)]))
    return codes // n_right, codes % n_right


def block(keys_a: np.ndarray, keys_b: np.ndarray, names: tuple[str, ...], *,
          max_block_pairs: int = 250_000, self_join: bool = False) -> CandidatePairs:
    """Candidate pairs from every pass: ``keys_*`` are ``(n, passes)`` uint64, one column a pass.

    With ``self_join`` (deduplication within one source) only pairs ``i < j`` are kept.
    """
    lefts, rights, per_pass, skipped = [], [], {}, {}
    for p, name in enumerate(names):
        left, right, skip = join_on_keys(keys_a[:, p], keys_b[:, p], max_block_pairs,
                                         ordered=False)  # union_pairs sorts them
        if self_join:
            keep = left < right
            left, right = left[keep], right[keep]
        lefts.append(left)
        rights.append(right)
        per_pass[name] = len(left)
        skipped[name] = skip
    left, right = union_pairs(lefts, rights, max(len(keys_b), 1))
    return CandidatePairs(left, right, per_pass, skipped)
