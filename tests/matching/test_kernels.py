"""Compiled kernels agree exactly with plain-Python twins."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from linkage.matching import dice_above, dice_similarity, popcounts
from linkage.matching.similarity import cardinality_bounds, dice_and_overlap


def ref_counts(x: np.ndarray, y: np.ndarray) -> tuple[int, int, int]:
    """Set bits of two packed filters and of their intersection, one bit at a time."""
    a = sum(bin(int(w)).count("1") for w in x)
    b = sum(bin(int(w)).count("1") for w in y)
    both = sum(bin(int(u) & int(v)).count("1") for u, v in zip(x, y, strict=True))
    return a, b, both


def ref_dice(x: np.ndarray, y: np.ndarray) -> float:
    """Dice of two packed filters, one bit at a time."""
    a, b, both = ref_counts(x, y)
    return 2 * both / (a + b) if a + b else 0.0


def filters(rows: int, words: int):  # type: ignore[no-untyped-def]
    return arrays(np.uint64, (rows, words), elements=st.integers(0, 2**64 - 1))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.tuples(filters(5, w), filters(7, w))))
def test_pairwise_dice_matches_reference(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    ia = np.repeat(np.arange(len(a)), len(b))
    ib = np.tile(np.arange(len(b)), len(a))
    got = dice_similarity(a, b, ia, ib)
    want = np.array([ref_dice(a[i], b[j]) for i, j in zip(ia, ib, strict=True)])
    assert np.allclose(got, want, atol=1e-6)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.floats(0.0, 1.0), st.integers(0, 10_000))
def test_thresholded_all_pairs_matches_reference(words: int, threshold: float,
                                                 seed: int) -> None:
    rng = np.random.default_rng(seed)
    fill = rng.uniform(0.05, 0.6)
    bits_a = rng.random((30, words * 64)) < fill
    bits_b = np.vstack([bits_a[:10] ^ (rng.random((10, words * 64)) < 0.05),
                        rng.random((25, words * 64)) < fill])
    a = np.packbits(bits_a, axis=1, bitorder="little").view("<u8").astype(np.uint64)
    b = np.packbits(bits_b, axis=1, bitorder="little").view("<u8").astype(np.uint64)
    found = dice_above(a, b, threshold, row_chunk=7, capacity=2)
    got = {(int(i), int(j)): float(s) for i, j, s in zip(found.left, found.right, found.score,
                                                          strict=True)}
    want = {(i, j): ref_dice(a[i], b[j]) for i in range(len(a)) for j in range(len(b))
            if ref_dice(a[i], b[j]) >= threshold and (a[i].any() or b[j].any())}
    assert got.keys() == want.keys()
    assert all(abs(got[k] - want[k]) < 1e-6 for k in got)


def test_cardinality_bounds_never_drop_a_qualifying_pair() -> None:
    pop_b = np.arange(0, 200)
    for t in (0.3, 0.5, 0.8, 0.95):
        lo, hi = cardinality_bounds(np.array([50, 100]), pop_b, t)
        for row, a in enumerate((50, 100)):
            ok = [b for b in pop_b if 2 * min(a, b) / (a + b) >= t]
            assert pop_b[lo[row]] <= min(ok) and pop_b[hi[row] - 1] >= max(ok)


def test_popcounts() -> None:
    x = np.array([[0, 1, 2**64 - 1]], dtype=np.uint64)
    assert popcounts(x).tolist() == [65]


def test_debiased_dice_recovers_the_noise_free_similarity() -> None:
    from linkage.bits import packbits_rows, unpackbits_rows
    from linkage.matching.similarity import dice_similarity

    rng = np.random.default_rng(5)
    m, n, p = 256, 4000, 0.12
    base = (rng.random((n, m)) < 0.25).astype(np.uint8)
    other = base.copy()
    change = rng.random((n, m)) < 0.05
    other[change] = 1 - other[change]
    a, b = packbits_rows(base), packbits_rows(other)
    rows = np.arange(n)
    clean = dice_similarity(a, b, rows, rows)

    def noisy(f: np.ndarray) -> np.ndarray:
        bits = unpackbits_rows(f)
        flips = (rng.random(bits.shape) < p).astype(np.uint8)
        return packbits_rows(bits ^ flips)

    na, nb = noisy(a), noisy(b)
    raw = dice_similarity(na, nb, rows, rows)
    fixed = dice_similarity(na, nb, rows, rows, flip_probability=p)
    assert abs(float(raw.mean() - clean.mean())) > 0.1        # noise drags Dice down
    assert abs(float(fixed.mean() - clean.mean())) < 0.01     # the estimate is unbiased


def ref_overlap(x: np.ndarray, y: np.ndarray) -> float:
    """Overlap coefficient ``|A & B| / min(|A|, |B|)`` of two packed filters, bit by bit."""
    a, b, both = ref_counts(x, y)
    return both / min(a, b) if min(a, b) else 0.0


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4).flatmap(lambda w: st.tuples(filters(5, w), filters(7, w))))
def test_dice_and_overlap_match_their_references(pair: tuple[np.ndarray, np.ndarray]) -> None:
    a, b = pair
    ia = np.repeat(np.arange(len(a)), len(b))
    ib = np.tile(np.arange(len(b)), len(a))
    dice, overlap = dice_and_overlap(a, b, ia, ib)
    assert np.allclose(dice, dice_similarity(a, b, ia, ib), atol=1e-6)
    want = np.array([ref_overlap(a[i], b[j]) for i, j in zip(ia, ib, strict=True)])
    assert np.allclose(overlap, want, atol=1e-6)


def test_a_filter_inside_another_overlaps_fully_but_is_not_similar() -> None:
    short = np.array([[0b1111]], np.uint64)          # "Smith"
    long = np.array([[0b1111_1111_1111]], np.uint64)  # "Smith-Jones"
    dice, overlap = dice_and_overlap(short, long, np.array([0]), np.array([0]))
    assert overlap[0] == 1.0 and dice[0] == np.float32(0.5)
