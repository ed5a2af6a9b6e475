"""Matching kernels agree with plain, obviously-correct Python twins written here.

Each twin works one row / one edge at a time on Python ints and tuples, so that it is easy
to check by reading; the library's vectorised (or compiled) version must give the same
answer on small random inputs.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from linkage.matching.blocking import LshParameters, lsh_keys
from linkage.matching.candidates import _equal_row_pairs
from linkage.matching.clustering import greedy_clusters
from linkage.matching.patterns import distinct_patterns as _patterns

SETTINGS = settings(max_examples=100, deadline=None)
MASK64 = 2**64 - 1


# --- scoring._patterns ------------------------------------------------------------------

def ref_patterns(levels: np.ndarray) -> Counter[tuple[int, ...]]:
    """Distinct rows of ``levels`` and how often each occurs, with a plain dict."""
    return Counter(tuple(int(v) for v in row) for row in levels)


@st.composite
def level_matrices(draw: st.DrawFn) -> np.ndarray:
    fields = draw(st.one_of(st.integers(1, 6), st.integers(24, 40)))  # 24+: too wide to pack
    top = draw(st.integers(0, 6))  # highest level in this draw (-1 = missing)
    rows = draw(st.integers(0, 40))
    return draw(arrays(np.int8, (rows, fields), elements=st.integers(-1, top)))


@SETTINGS
@given(level_matrices())
def test_patterns_match_reference(levels: np.ndarray) -> None:
    patterns, counts, inverse = _patterns(levels)
    expected = ref_patterns(levels)
    got_rows = [tuple(int(v) for v in row) for row in patterns]
    assert len(got_rows) == len(set(got_rows)), "patterns are not distinct"
    assert set(got_rows) == set(expected)
    assert {row: float(c) for row, c in zip(got_rows, counts, strict=True)} == \
        {row: float(c) for row, c in expected.items()}
    assert patterns.dtype == levels.dtype
    assert patterns.shape == (len(expected), levels.shape[1])
    assert inverse.shape == (len(levels),)
    assert np.array_equal(patterns[inverse], levels)


# --- blocking.lsh_keys --------------------------------------------------------------------

def ref_mix(value: int, band: int) -> int:
    """blocking._mix for one value, on Python ints modulo 2**64."""
    x = value ^ (((band + 1) * 0x9E3779B97F4A7C15) & MASK64)
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & MASK64
    x ^= x >> 29
    return x or 1


def ref_sample(words: int, params: LshParameters) -> list[list[int]]:
    """The public sample: for each band, the bit positions it reads (with replacement)."""
    rng = np.random.default_rng(params.seed)
    chosen = rng.choice(words * 64, size=(params.bands, params.bits_per_band), replace=True)
    return [[int(p) for p in band] for band in chosen]


def ref_bit(row: np.ndarray, position: int) -> int:
    """Bit ``position`` of a packed filter: bit ``position % 64`` of word ``position // 64``."""
    return (int(row[position // 64]) >> (position % 64)) & 1


def ref_lsh_keys(filters: np.ndarray, params: LshParameters) -> list[list[int]]:
    """Band key = mix(sum_k bit[sample[band][k]] << k, band), one row at a time."""
    sample = ref_sample(filters.shape[1], params)
    return [[ref_mix(sum(ref_bit(row, p) << k for k, p in enumerate(band)), b)
             for b, band in enumerate(sample)] for row in filters]


lsh_params = st.builds(LshParameters, bands=st.integers(1, 6), bits_per_band=st.integers(1, 64),
                       seed=st.integers(0, 2**32 - 1))


@st.composite
def filters_with_repeats(draw: st.DrawFn) -> np.ndarray:
    """(n, w) uint64 filters, rows drawn from a small pool so that equal rows occur."""
    words = draw(st.integers(1, 3))
    pool = draw(arrays(np.uint64, (draw(st.integers(1, 4)), words),
                       elements=st.integers(0, MASK64)))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=8))
    return pool[picks]


@SETTINGS
@given(filters_with_repeats(), lsh_params)
def test_lsh_keys_match_reference(filters: np.ndarray, params: LshParameters) -> None:
    keys = lsh_keys(filters, params)
    assert keys.dtype == np.uint64 and keys.shape == (len(filters), params.bands)
    assert [[int(k) for k in row] for row in keys] == ref_lsh_keys(filters, params)
    assert (keys != 0).all()  # 0 is reserved for "no key"
    for i in range(len(filters)):  # equal rows: equal keys in every band
        for j in range(len(filters)):
            if (filters[i] == filters[j]).all():
                assert (keys[i] == keys[j]).all()


@SETTINGS
@given(st.integers(1, 2).flatmap(lambda w: arrays(np.uint64, (1, w),
                                                   elements=st.integers(0, MASK64))),
       st.builds(LshParameters, bands=st.integers(1, 4), bits_per_band=st.integers(1, 12),
                 seed=st.integers(0, 2**32 - 1)))
def test_lsh_keys_depend_exactly_on_sampled_bits(row: np.ndarray,
                                                 params: LshParameters) -> None:
    """Flipping bit p changes band b's key if and only if band b samples p.

    This pins down which positions each band reads from the library alone; the set must be
    the reference sample (and a bit no band samples leaves every key unchanged).
    """
    words = row.shape[1]
    flipped = np.repeat(row, words * 64 + 1, axis=0)  # row 0: the original; row 1 + p: p flipped
    for p in range(words * 64):
        flipped[1 + p, p // 64] ^= np.uint64(1) << np.uint64(p % 64)
    keys = lsh_keys(flipped, params)
    changed = keys[1:] != keys[0]  # (positions, bands)
    sample = ref_sample(words, params)
    for b in range(params.bands):
        assert set(np.flatnonzero(changed[:, b]).tolist()) == set(sample[b])
    unsampled = sorted(set(range(words * 64)) - {p for band in sample for p in band})
    assert not changed[unsampled].any()


def test_lsh_keys_same_across_chunks() -> None:
    """Rows are processed in chunks of 2**15: a row gets the same keys in any chunk."""
    rng = np.random.default_rng(5)
    pool = rng.integers(0, 2**63, size=(3, 2), dtype=np.uint64)
    n = (1 << 15) + 3
    filters = pool[np.arange(n) % 3]
    params = LshParameters(bands=3, bits_per_band=20, seed=11)
    keys = lsh_keys(filters, params)
    expected = np.array(ref_lsh_keys(pool, params), dtype=np.uint64)
    assert np.array_equal(keys, expected[np.arange(n) % 3])


# --- candidates._equal_row_pairs ----------------------------------------------------------

def ref_equal_pairs(fa: np.ndarray, fb: np.ndarray, *, self_join: bool) -> set[tuple[int, int]]:
    """Every (row of fa, row of fb) with identical filters; with ``self_join``, fb is fa and
    the pairs are (i, j), i != j, in both orders."""
    if self_join:
        fb = fa
    ta = [tuple(int(v) for v in row) for row in fa]
    tb = [tuple(int(v) for v in row) for row in fb]
    return {(i, j) for i, x in enumerate(ta) for j, y in enumerate(tb)
            if x == y and not (self_join and i == j)}


@st.composite
def filter_pairs(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    """Two small filter arrays sharing a pool of rows (pool rows may differ in one word only)."""
    words = draw(st.integers(1, 3))
    base = draw(st.lists(st.integers(0, 3), min_size=words, max_size=words))
    last = draw(st.lists(st.integers(0, 7), min_size=1, max_size=4, unique=True))
    pool = np.array([[*base[:-1], v] for v in last], dtype=np.uint64)
    pick = st.lists(st.integers(0, len(pool) - 1), min_size=1, max_size=6)
    return pool[draw(pick)], pool[draw(pick)]


@SETTINGS
@given(filter_pairs(), st.booleans(), st.integers(0, 2**32 - 1))
def test_equal_row_pairs_support_is_all_equal_pairs(data: tuple[np.ndarray, np.ndarray],
                                                    self_join: bool, seed: int) -> None:
    fa, fb = data
    if self_join:
        fb = fa
    expected = ref_equal_pairs(fa, fb, self_join=self_join)
    wanted = 3_000  # at most 36 possible pairs: each is missed with probability < 1e-35
    left, right = _equal_row_pairs(fa, fb, np.random.default_rng(seed), wanted,
                                   self_join=self_join)
    if not expected:
        assert len(left) == len(right) == 0
        return
    assert len(left) == len(right) == wanted
    assert left.dtype == right.dtype == np.int64
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        assert (fa[i] == fb[j]).all()
        if self_join:
            assert i != j
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == expected


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.data())
def test_equal_row_pairs_single_possible_pair(n_a: int, n_b: int, data: st.DataObject) -> None:
    """Distinct rows on each side, exactly one value shared: every draw is that pair."""
    values_a = np.arange(n_a, dtype=np.uint64)  # A: 0 .. n_a - 1
    values_b = np.arange(100, 100 + n_b, dtype=np.uint64)  # B: 100 .., but one is A's i-th
    i, j = data.draw(st.integers(0, n_a - 1)), data.draw(st.integers(0, n_b - 1))
    values_b[j] = values_a[i]
    fa, fb = values_a[:, None], values_b[:, None]
    left, right = _equal_row_pairs(fa, fb, np.random.default_rng(data.draw(st.integers(0, 99))),
                                   50, self_join=False)
    assert ref_equal_pairs(fa, fb, self_join=False) == {(i, j)}
    assert (left == i).all() and (right == j).all() and len(left) == 50
    # self-join with exactly one repeated row: the two members, in either order
    fs = np.r_[values_a, values_a[i]][:, None]
    left, right = _equal_row_pairs(fs, fs, np.random.default_rng(1), 200, self_join=True)
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == \
        ref_equal_pairs(fs, fs, self_join=True) == {(i, n_a), (n_a, i)}


def test_equal_row_pairs_uniform_over_pairs_not_groups() -> None:
    """Group X has 1 x 1 pairs, group Y 3 x 3: each of the 10 pairs is drawn ~1/10 of the time
    (drawing a group uniformly would give the X pair 1/2)."""
    fa = np.array([[1], [2], [2], [2]], dtype=np.uint64)
    fb = np.array([[2], [1], [2], [2]], dtype=np.uint64)
    draws = 20_000
    left, right = _equal_row_pairs(fa, fb, np.random.default_rng(0), draws, self_join=False)
    counts = Counter(zip(left.tolist(), right.tolist(), strict=True))
    assert set(counts) == ref_equal_pairs(fa, fb, self_join=False)
    for c in counts.values():  # expected 2000 each, sd ~ 42
        assert abs(c - draws / 10) < 300


# --- clustering.greedy_clusters -----------------------------------------------------------

def ref_greedy_clusters(source: list[int], edges: list[tuple[int, int, float, float, bool]]
                        ) -> tuple[list[bool], set[frozenset[int]], list[float]]:
    """Union-find over edges (a, b, weight, probability, within) taken within-source first,
    then by descending weight, ties in input order; an edge merges two clusters only if they
    share no source, unless it is a within-source edge. Returns (accepted, partition, best
    accepted probability per record)."""
    parent = list(range(len(source)))
    sources = [{s} for s in source]  # valid at roots

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    accepted = [False] * len(edges)
    order = sorted(range(len(edges)), key=lambda e: (not edges[e][4], -edges[e][2], e))
    for e in order:
        a, b, _, _, within = edges[e]
        ra, rb = find(a), find(b)
        if ra == rb or (sources[ra] & sources[rb] and not within):
            continue
        parent[rb] = ra
        sources[ra] |= sources[rb]
        accepted[e] = True
    members: dict[int, set[int]] = {}
    for x in range(len(source)):
        members.setdefault(find(x), set()).add(x)
    best = [0.0] * len(source)
    for (a, b, _, p, _), ok in zip(edges, accepted, strict=True):
        if ok:
            best[a], best[b] = max(best[a], p), max(best[b], p)
    return accepted, {frozenset(m) for m in members.values()}, best


@st.composite
def cluster_problems(draw: st.DrawFn) -> tuple[np.ndarray, list[tuple[int, int, float, float,
                                                                        bool]], bool]:
    n = draw(st.integers(1, 10))
    source = draw(st.lists(st.sampled_from([0, 1, 2, 3, 63]), min_size=n, max_size=n))
    node = st.integers(0, n - 1)
    edge = st.tuples(node, node, st.sampled_from([-1.5, 0.0, 0.5, 2.0, 2.0, 7.25]),
                     st.floats(0.0, 1.0), st.booleans())
    edges = draw(st.lists(edge, max_size=20))
    return np.array(source, dtype=np.int64), edges, draw(st.booleans())


@SETTINGS
@given(cluster_problems())
def test_greedy_clusters_match_reference(
        problem: tuple[np.ndarray, list[tuple[int, int, float, float, bool]], bool]) -> None:
    source, edges, with_within = problem
    if not with_within:  # within_source=None: no edge is within-source
        edges = [(a, b, w, p, False) for a, b, w, p, _ in edges]
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    weight = np.array([e[2] for e in edges], dtype=np.float64)
    probability = np.array([e[3] for e in edges], dtype=np.float64)
    within = np.array([e[4] for e in edges], dtype=bool)
    got = greedy_clusters(source, a, b, weight, probability,
                          within_source=within if with_within else None)
    accepted, partition, best = ref_greedy_clusters(source.tolist(), edges)
    assert got.accepted.tolist() == accepted
    labels: dict[int, set[int]] = {}
    for x, label in enumerate(got.label.tolist()):
        labels.setdefault(label, set()).add(x)
    assert {frozenset(m) for m in labels.values()} == partition
    assert got.probability.tolist() == best
    # invariant: a cluster holds one record per source unless a within-source edge joined it
    joined_within = {int(got.label[a[e]]) for e in range(len(edges))
                     if got.accepted[e] and within[e]}
    for label, records in labels.items():
        if label not in joined_within:
            assert len({int(source[x]) for x in records}) == len(records)
