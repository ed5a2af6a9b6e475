import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.matching.blocking import LshParameters, block, join_on_keys, lsh_keys


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=40), st.lists(st.integers(0, 6), max_size=40),
       st.integers(1, 30))
def test_join_matches_brute_force(ka: list[int], kb: list[int], cap: int) -> None:
    a = np.asarray(ka, dtype=np.uint64)
    b = np.asarray(kb, dtype=np.uint64)
    left, right, skipped = join_on_keys(a, b, cap)
    got = set(zip(left.tolist(), right.tolist(), strict=True))
    sizes = {k: (ka.count(k), kb.count(k)) for k in set(ka) & set(kb) if k}
    big = {k for k, (x, y) in sizes.items() if x * y > cap}
    want = {(i, j) for i, x in enumerate(ka) for j, y in enumerate(kb)
            if x == y and x != 0 and x not in big}
    assert got == want and skipped == len(big)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(0, 6), min_size=1, max_size=5),
       st.lists(st.integers(0, 6), min_size=60, max_size=120), st.integers(1, 60),
       st.booleans())
def test_join_of_a_few_against_many_matches_the_sorted_join(few: list[int], many: list[int],
                                                            cap: int, flip: bool) -> None:
    a, b = np.asarray(few, dtype=np.uint64), np.asarray(many, dtype=np.uint64)
    if flip:
        a, b = b, a
    left, right, skipped = join_on_keys(a, b, cap, ordered=False)
    want_left, want_right, want_skipped = join_on_keys(a, b, cap)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == sorted(
        zip(want_left.tolist(), want_right.tolist(), strict=True))
    assert skipped == want_skipped and left.dtype == right.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=30), st.data())
def test_a_few_wide_keys_against_many_in_a_matrix_column(pool: list[int],
                                                         data: st.DataObject) -> None:
    """Keys over the whole uint64 range (hash-table collisions), read from a column of a
    (n, passes) matrix as the blocking passes are."""
    pick = st.sampled_from([0, *pool])
    few = data.draw(st.lists(pick, min_size=1, max_size=6))
    many = data.draw(st.lists(pick, min_size=60, max_size=200))
    a = np.asarray(few, dtype=np.uint64)
    wide = np.zeros((len(many), 3), np.uint64)
    wide[:, 1] = many
    left, right, skipped = join_on_keys(a, wide[:, 1], 10**6, ordered=False)
    want = {(i, j) for i, x in enumerate(few) for j, y in enumerate(many) if x == y != 0}
    assert set(zip(left.tolist(), right.tolist(), strict=True)) == want
    assert len(left) == len(want) and skipped == 0


def test_union_of_passes_and_self_join() -> None:
    keys = np.array([[1, 5], [1, 6], [2, 6], [0, 0]], dtype=np.uint64)
    result = block(keys, keys, ("a", "b"), self_join=True)
    assert set(zip(result.left.tolist(), result.right.tolist(), strict=True)) == {(0, 1), (1, 2)}
    assert result.pairs_per_pass == {"a": 1, "b": 1}


def test_lsh_keys_equal_for_equal_filters_and_differ_otherwise() -> None:
    rng = np.random.default_rng(0)
    f = rng.integers(0, 2**63, size=(50, 16), dtype=np.uint64)
    keys = lsh_keys(np.vstack([f, f]), LshParameters(bands=4, bits_per_band=16))
    assert np.array_equal(keys[:50], keys[50:])
    assert (keys != 0).all()
    assert len(np.unique(keys[:50, 0])) > 40


@given(st.lists(st.integers(-(2**62), 2**62), max_size=200))
def test_sort_based_uniques_match_numpy(values: list[int]) -> None:
    from linkage.matching.uniques import distinct, distinct_with_inverse

    x = np.asarray(values, dtype=np.int64)
    u, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    got_u, got_inverse, got_counts = distinct_with_inverse(x)
    assert np.array_equal(got_u, u) and np.array_equal(distinct(x), u)
    assert np.array_equal(got_inverse, inverse.ravel()) and np.array_equal(got_counts, counts)
